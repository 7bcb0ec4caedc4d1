"""Go and Python on one omniqd: a Go worker (package client's Work) runs a
task Python enqueued by func name, and a Python worker runs tasks a Go
program enqueued."""

import asyncio
import subprocess
import unittest

import support
from omniq.models.task import Task
from omniq.worker import Worker
from test_worker import wait_state


class TestInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.helper = support.gohelper()

    def go(self, *args):
        r = subprocess.run([self.helper, *args], capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_go_worker_runs_python_task(self):
        async def main():
            async with support.open_queue("memory") as q:
                add = Task(func="go.add", args=(10, 20, 12), queue_name="to-go")
                desc = Task(func="go.describe", args=(1, 2.0, "s", [True]), kwargs={"k": 1.5}, queue_name="to-go")
                await q.enqueue_many([add, desc])
                await asyncio.to_thread(self.go, "work", q.url, "to-go", "2")
                got = await q.get_task(add.id)
                self.assertEqual((got.state, got.result), ("completed", 42))
                got = await q.get_task(desc.id)
                self.assertEqual(got.state, "completed")
                self.assertEqual(got.result["types"], ["int64", "float64", "string", "[]interface {}"])
                self.assertEqual(got.result["args"], [1, 2.0, "s", [True]])
                self.assertIs(type(got.result["args"][1]), float)
                self.assertEqual(got.result["kwargs"], {"k": 1.5})
        asyncio.run(main())

    def test_python_worker_runs_go_task(self):
        async def main():
            async with support.open_queue("memory") as q:
                by_path = await asyncio.to_thread(
                    self.go, "enqueue", q.url, "from-go", "omniq_test_funcs:kinds", "[1, 2.5, \"x\"]", '{"n": 3}')
                by_name = await asyncio.to_thread(self.go, "enqueue", q.url, "from-go", "mul", "[6, 7]", "{}")
                w = Worker(q, queues=["from-go"], poll_wait=0.5, handlers={"mul": lambda a, b: a * b})
                run = asyncio.create_task(w.run())
                a = await wait_state(q, by_path, {"completed", "failed"})
                b = await wait_state(q, by_name, {"completed", "failed"})
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
                self.assertEqual(a.state, "completed", a.error)
                self.assertEqual(a.result, {"args": ["int", "float", "str"], "kwargs": {"n": "int"}})
                self.assertEqual((b.state, b.result), ("completed", 42))
        asyncio.run(main())
