"""Every backend (memory, file, sqlite; postgres, redis and nats when their
OMNIQ_TEST_* variable is set): the task lifecycle, value round trips and a
worker, each against its own omniqd."""

import asyncio
import unittest
from datetime import datetime, timedelta, timezone

import support
from omniq.models.schedule import Schedule
from omniq.models.task import Task
from omniq.errors import StaleLease, TaskNotFound
from omniq.worker import Worker

import omniq_test_funcs


def double(x):
    return 2 * x


class _Backend:
    backend = ""

    def test_lifecycle(self):
        async def main():
            async with support.open_queue(self.backend) as q:
                t = Task(func=omniq_test_funcs.multiply, args=(6, 7), queue_name="life", retries=1)
                await q.enqueue(t)
                self.assertEqual(t.state, "pending")
                got = await q.get_task(t.id)
                self.assertEqual(got.func, omniq_test_funcs.multiply)
                self.assertEqual(got.func_name, "omniq_test_funcs:multiply")
                self.assertIsNone(await q.dequeue("empty"))
                d = await q.dequeue("life", wait=1)
                self.assertEqual((d.id, d.state, d.attempt), (t.id, "running", 1))
                self.assertIsNotNone(d.lease_deadline)
                d = await q.heartbeat(d)
                done = await q.complete(d, d.func(*d.args, **d.kwargs))
                self.assertEqual((done.state, done.result), ("completed", 42))
                with self.assertRaises(StaleLease):
                    await q.complete(d, 1)
                types = [e["type"] for e in await q.history(t.id)]
                self.assertEqual(types, ["task.enqueued", "task.leased", "task.heartbeat", "task.completed"])
                stats = await q.stats()
                self.assertEqual(stats["queues"]["life"], {"completed": 1})
                await q.delete_task(t.id)
                self.assertIsNone(await q.get_task(t.id))
                with self.assertRaises(TaskNotFound):
                    await q.delete_task("no-such-task")
        asyncio.run(main())

    def test_values_round_trip(self):
        async def main():
            async with support.open_queue(self.backend) as q:
                run_at = datetime(2099, 1, 2, 3, 4, 5, 123456)  # naive: UTC
                args = (1, 2.0, -3.5, 1 << 62, "ü", True, None, [1, [2.5]], {"k": {"n": 0}})
                kwargs = {"a": 1, "b": 1.0, "c": [], "d": {}}
                t = Task(func="py.values", args=args, kwargs=kwargs, ttl=90, priority=7, retries=2,
                         max_retries=5, schedule=Schedule(run_at=run_at))
                await q.enqueue(t)
                got = await q.get_task(t.id)
                self.assertEqual(got.args, args)
                self.assertEqual([type(a) for a in got.args], [type(a) for a in args])
                self.assertEqual(got.kwargs, kwargs)
                self.assertIs(type(got.kwargs["b"]), float)
                self.assertEqual(got.func, "py.values")
                self.assertEqual((got.ttl, got.priority, got.retries, got.max_retries), (90, 7, 2, 5))
                self.assertEqual(got.schedule.run_at, run_at.replace(tzinfo=timezone.utc))
                rec = Task(func="py.every", schedule=Schedule(interval=timedelta(seconds=90, microseconds=250000),
                                                              paused=True))
                await q.enqueue(rec)
                got = await q.get_task(rec.id)
                self.assertEqual(got.schedule.interval, timedelta(seconds=90.25))
                self.assertTrue(got.schedule.paused)
                await q.resume_schedule(rec.id)
                self.assertFalse((await q.get_task(rec.id)).schedule.paused)
                await q.pause_schedule(rec.id)
        asyncio.run(main())

    def test_worker(self):
        async def main():
            async with support.open_queue(self.backend) as q:
                tasks = [Task(func=double, args=(i,)) for i in range(5)]
                tasks.append(Task(func=omniq_test_funcs.add_async, args=(1, 2)))
                await q.enqueue_many(tasks)
                w = Worker(q, concurrency=3, poll_wait=0.5)
                run = asyncio.create_task(w.run())
                for t in tasks:
                    for _ in range(200):
                        got = await q.get_task(t.id)
                        if got.state == "completed":
                            break
                        await asyncio.sleep(0.05)
                    self.assertEqual(got.state, "completed", got)
                self.assertEqual([(await q.get_task(t.id)).result for t in tasks], [0, 2, 4, 6, 8, 3])
                run.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await run
        asyncio.run(main())

    def test_log_dropped(self):
        # A log the suite creates on a shared server (PostgreSQL tables,
        # Redis keys, NATS streams) is gone once its queue is closed.
        if not support.BACKENDS[self.backend][0]:
            self.skipTest(f"{self.backend}: not a shared server")

        async def main():
            async with support.open_queue(self.backend) as q:
                store = q.store_url
                await q.enqueue(Task(func="py.drop"))
                self.assertTrue(support.leftovers(store), "the log is not where the check looks")
            return store
        store = asyncio.run(main())
        self.assertEqual(support.leftovers(store), [])
        q = support.open_queue(self.backend)
        q.close()  # the blocking close drops too
        self.assertEqual(support.leftovers(q.store_url), [])


for _name in support.BACKENDS:
    _cls = type(f"Test{_name.capitalize()}Backend", (_Backend, unittest.TestCase), {"backend": _name})
    globals()[_cls.__name__] = _cls
del _cls
