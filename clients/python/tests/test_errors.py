"""Errors: the server's codes as exceptions, refused values, the token, and
a missing omniqd binary."""

import asyncio
import os
import unittest
from datetime import datetime

import support
from omniq import errors
from omniq.models.schedule import Schedule
from omniq.models.task import Task
from omniq.queue import MemoryTaskQueue, OmniQDTaskQueue


class TestErrors(support.MemoryQueueCase):
    def test_server_codes(self):
        q = self.q
        with self.assertRaises(errors.InvalidArgument) as cm:
            self.run_(q.enqueue(Task(func="x", priority=5000)))
        self.assertEqual((cm.exception.code, cm.exception.reason, cm.exception.status),
                         ("invalid_argument", "invalid_priority", 400))
        self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(errors.InvalidArgument) as cm:
            self.run_(q.enqueue(Task(func="x", depends_on=["nope"])))
        self.assertEqual(cm.exception.reason, "unknown_dependency")
        with self.assertRaises(errors.InvalidArgument) as cm:
            self.run_(q.enqueue(Task(func="x", schedule=Schedule(cron="not a cron"))))
        self.assertEqual(cm.exception.reason, "invalid_cron")
        with self.assertRaises(errors.TaskNotFound) as cm:
            self.run_(q.complete("nope", attempt=1))
        self.assertEqual((cm.exception.code, cm.exception.status), ("not_found", 404))
        self.assertIn("nope", cm.exception.message)
        t = Task(func="x", queue_name="errs")
        self.run_(q.enqueue(t))
        with self.assertRaises(errors.StaleLease):
            self.run_(q.heartbeat(t.id, attempt=1))
        d = self.run_(q.dequeue("errs"))
        with self.assertRaises(errors.StaleLease):
            self.run_(q.fail(d, "boom", attempt=2))
        self.assertEqual(self.run_(q.fail(d, RuntimeError("boom"))).error, "RuntimeError: boom")
        with self.assertRaises(errors.InvalidArgument) as cm:
            self.run_(q.pause_schedule(t.id))
        self.assertEqual(cm.exception.reason, "not_schedule")

    def test_refused_values(self):
        bad = [
            Task(func="x", args=({1, 2},)),
            Task(func="x", args=(b"bytes",)),
            Task(func="x", args=(datetime.now(),)),
            Task(func="x", args=(float("nan"),)),
            Task(func="x", args=(1 << 64,)),
            Task(func="x", kwargs={"k": {1: "int key"}}),
            Task(func="x", ttl="soon"),
            Task(func=42),
        ]
        for t in bad:
            with self.subTest(task=t), self.assertRaises(errors.InvalidValue) as cm:
                self.run_(self.q.enqueue(t))
            self.assertIsInstance(cm.exception, TypeError)
            self.assertIsInstance(cm.exception, errors.OmniQError)
        with self.assertRaises(errors.InvalidValue):
            self.run_(self.q.complete("x", object(), attempt=1))

    def test_unresolvable_func(self):
        t = Task(func="somewhere_else:<lambda>")
        self.run_(self.q.enqueue(t))
        got = self.run_(self.q.get_task(t.id))
        self.assertTrue(callable(got.func))
        self.assertEqual(got.func_name, "somewhere_else:<lambda>")
        with self.assertRaises(errors.UnresolvableFunc) as cm:
            got.func()
        self.assertIn("somewhere_else:<lambda>", str(cm.exception))

    def test_token(self):
        from omniq._core import Core
        core = Core(store="memory://", token="s3cret")
        try:
            with OmniQDTaskQueue(core.url) as anon, self.assertRaises(errors.Unauthorized) as cm:
                self.run_(anon.stats())
            self.assertEqual(cm.exception.status, 401)
            q = OmniQDTaskQueue(core.url, token="s3cret")
            self.assertIn("queues", self.run_(q.stats()))
            q.close()
        finally:
            core.close()

    def test_missing_binary(self):
        saved = os.environ.copy()
        try:
            os.environ["OMNIQ_BIN"] = "/nonexistent/omniqd"
            with self.assertRaises(errors.BinaryNotFound) as cm:
                MemoryTaskQueue()
            self.assertIn("OMNIQ_BIN", str(cm.exception))
            del os.environ["OMNIQ_BIN"]
            os.environ["PATH"] = support.tmpdir()
            with self.assertRaises(errors.BinaryNotFound) as cm:
                MemoryTaskQueue()
            self.assertIn("OMNIQ_BIN", str(cm.exception))
            self.assertIn("PATH", str(cm.exception))
            self.assertIsInstance(cm.exception, FileNotFoundError)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def test_store_error(self):
        with self.assertRaises(errors.DaemonError) as cm:
            from omniq.queue import RedisTaskQueue
            RedisTaskQueue("127.0.0.1", 1, 0)
        self.assertIn("redis://127.0.0.1:1/0", str(cm.exception))


class TestFuncNames(unittest.TestCase):
    def test_handler_name_stays_a_string(self):
        with support.open_queue("memory") as q:
            t = asyncio.run(q.enqueue(Task(func="mail:send")))
            got = asyncio.run(q.get_task(t.id))
            self.assertIsInstance(got.func, str)
            self.assertEqual(got.func, "mail:send")
            self.assertEqual(got.func_name, "mail:send")
            with self.assertRaises(errors.UnresolvableFunc):
                got.func()
