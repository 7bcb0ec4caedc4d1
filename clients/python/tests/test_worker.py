"""omniq.worker.Worker: heartbeats, failures, handlers by name,
cancellation."""

import asyncio
import threading
import time
import unittest

import support
from omniq.models.task import Task
from omniq.worker import Worker

import omniq_test_funcs


async def wait_state(q, task_id, states, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        t = await q.get_task(task_id)
        if t.state in states or time.monotonic() > deadline:
            return t
        await asyncio.sleep(0.05)


slow_started = threading.Event()


def slow(seconds):
    slow_started.set()
    time.sleep(seconds)
    return "slept"


class TestWorker(unittest.TestCase):
    def test_heartbeat_keeps_a_long_task(self):
        async def main():
            # Leases last 2 s: a task of 4 s keeps its lease only by
            # heartbeats (every 2/3 s, so a busy machine may delay one by
            # over a second without losing the lease).
            async with support.open_queue("memory", ["--lease-timeout", "2s"]) as q:
                t = Task(func=slow, args=(4,))
                await q.enqueue(t)
                w = Worker(q, poll_wait=0.5)
                run = asyncio.create_task(w.run())
                got = await wait_state(q, t.id, {"completed", "failed", "waiting"})
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
                self.assertEqual((got.state, got.attempt, got.result), ("completed", 1, "slept"))
                types = [e["type"] for e in await q.history(t.id)]
                self.assertGreaterEqual(types.count("task.heartbeat"), 2, types)
                self.assertNotIn("task.lease_expired", types)
        asyncio.run(main())

    def test_failures_and_handlers_by_name(self):
        async def main():
            async with support.open_queue("memory") as q:
                calls = []
                w = Worker(q, concurrency=2, poll_wait=0.5)

                @w.register("py.mul")
                def mul(a, b):
                    calls.append((a, b))
                    return a * b

                ok = Task(func="py.mul", args=(3, 4))
                boom = Task(func=omniq_test_funcs.boom, args=("bad",), retries=1)
                nobody = Task(func="py.unknown")
                lost = Task(func="elsewhere:<lambda>")
                unstorable = Task(func=object)
                await q.enqueue_many([ok, boom, nobody, lost, unstorable])
                run = asyncio.create_task(w.run())
                got = {t.id: await wait_state(q, t.id, {"completed", "failed"})
                       for t in (ok, boom, nobody, lost, unstorable)}
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
                self.assertEqual((got[ok.id].state, got[ok.id].result), ("completed", 12))
                self.assertEqual(calls, [(3, 4)])
                self.assertEqual((got[boom.id].state, got[boom.id].attempt), ("failed", 2))
                self.assertEqual(got[boom.id].error, "RuntimeError: bad")
                self.assertEqual(got[nobody.id].state, "failed")
                self.assertIn("no handler is registered", got[nobody.id].error)
                self.assertIn("UnresolvableFunc", got[lost.id].error)
                self.assertIn("unstorable result", got[unstorable.id].error)
        asyncio.run(main())

    def test_cancel_stops_cleanly(self):
        async def main():
            async with support.open_queue("memory") as q:
                w = Worker(q, concurrency=2, poll_wait=30, shutdown_timeout=5)
                run = asyncio.create_task(w.run())
                await asyncio.sleep(0.3)  # idle in a long-poll of 30 s
                started = time.monotonic()
                run.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await run
                self.assertLess(time.monotonic() - started, 2.0)

                # A task running when the worker is cancelled finishes and is recorded.
                t = Task(func=slow, args=(0.5,))
                await q.enqueue(t)
                w = Worker(q, poll_wait=0.5)
                slow_started.clear()
                run = asyncio.create_task(w.run())
                self.assertTrue(await asyncio.to_thread(slow_started.wait, 15))
                run.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await run
                got = await q.get_task(t.id)
                self.assertEqual((got.state, got.result), ("completed", "slept"))
                # stop(): run() returns.
                w = Worker(q, poll_wait=30)
                run = asyncio.create_task(w.run())
                await asyncio.sleep(0.2)
                w.stop()
                await asyncio.wait_for(run, 5)
        asyncio.run(main())

    def test_cancel_while_a_request_is_in_flight(self):
        # The cancellation lands while a request is on its way: one that
        # carries a finished task's outcome (slow to leave), or one that has
        # leased a task (its answer slow to come back). run() returns only
        # once the outcome is recorded, sent once, and once the leased task
        # has run and its outcome is recorded.
        for when in ("outcome", "lease"):
            with self.subTest(when=when):
                asyncio.run(self._cancel_in_flight(when))

    async def _cancel_in_flight(self, when):
        async with support.open_queue("memory") as q:
            t = Task(func=slow, args=(0.1,))
            await q.enqueue(t)
            w = Worker(q, poll_wait=0.5)
            loop = asyncio.get_running_loop()
            now = asyncio.Event()
            real, sent = w._core.outcomes, []

            def outcomes(outs, queues, n=0, wait=None):
                sent.extend(o["id"] for o in outs)
                if when == "outcome" and outs:
                    loop.call_soon_threadsafe(now.set)
                    time.sleep(0.3)
                results, leased = real(outs, queues, n, wait)
                if when == "lease" and leased:
                    loop.call_soon_threadsafe(now.set)
                    time.sleep(0.3)
                return results, leased
            w._core.outcomes = outcomes
            run = asyncio.create_task(w.run())
            await asyncio.wait_for(now.wait(), 15)
            run.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await run
            got = await q.get_task(t.id)
            self.assertEqual((got.state, got.result, got.attempt), ("completed", "slept", 1))
            self.assertEqual(sent, [t.id])
            self.assertEqual(w.completed, 1)
