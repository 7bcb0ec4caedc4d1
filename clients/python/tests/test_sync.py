"""omniq.sync.Queue, the blocking facade, and the omniqd child's lifetime."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

import support
from omniq.models.task import Task
from omniq.sync import Queue


def triple(x):
    return 3 * x


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


class TestSync(unittest.TestCase):
    def test_sync_queue(self):
        support.omniqd()
        with Queue(store="memory://") as q:
            t = q.enqueue(Task(func=triple, args=(5,)))
            self.assertEqual(q.get_task(t.id).state, "pending")
            d = q.dequeue(wait=1)
            self.assertEqual(d.func, triple)
            q.complete(d, d.func(*d.args))
            self.assertEqual(q.get_task(t.id).result, 15)
            self.assertEqual(q.stats()["queues"]["default"], {"completed": 1})
            for i in range(3):
                q.enqueue(Task(func=triple, args=(i,)))
            outs, leased = q.record_outcomes([], n=3)
            self.assertEqual(len(leased), 3)
            outs, _ = q.record_outcomes([{"id": x.id, "attempt": x.attempt, "result": i} for i, x in enumerate(leased)])
            self.assertEqual([o["state"] for o in outs], ["completed"] * 3)
            self.assertIsNone(q.dequeue())
            # The same daemon through the async API.
            other = Queue(q.url)
            self.assertEqual(other.stats()["queues"]["default"], {"completed": 4})
            other.close()
        pid = q._core.daemon.proc.pid
        self.assertTrue(wait_gone(pid), "close() stops omniqd")

    def test_sync_view_of_an_async_queue(self):
        from omniq.queue import SQLiteTaskQueue
        aq = SQLiteTaskQueue(os.path.join(support.tmpdir(), "q.db"))
        try:
            t = aq.sync.enqueue(Task(func=triple, args=(2,)))
            self.assertEqual(aq.sync.get_task(t.id).func, triple)
        finally:
            aq.close()
        self.assertTrue(wait_gone(aq._core.daemon.proc.pid))

    def test_no_orphan_when_parent_exits_or_is_killed(self):
        support.omniqd()
        code = textwrap.dedent("""
            import os, sys, time
            from omniq.queue import MemoryTaskQueue
            q = MemoryTaskQueue()
            print(q._core.daemon.proc.pid, flush=True)
            if sys.argv[1] == "exit":
                sys.exit(0)      # atexit stops it
            time.sleep(60)       # killed with SIGKILL
        """)
        env = dict(os.environ, PYTHONPATH=support.PYROOT)
        for how in ("exit", "kill"):
            with self.subTest(how=how):
                p = subprocess.Popen([sys.executable, "-c", code, how], stdout=subprocess.PIPE, env=env, text=True)
                pid = int(p.stdout.readline())
                if how == "kill":
                    self.assertTrue(alive(pid))
                    p.send_signal(signal.SIGKILL)
                p.wait(30)
                p.stdout.close()
                self.assertTrue(wait_gone(pid), f"omniqd {pid} outlived its parent ({how})")
