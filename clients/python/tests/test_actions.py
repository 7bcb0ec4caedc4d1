"""The operator actions: retry, cancel, pause_queue and resume_queue, on the
async queue and its blocking view, against a real omniqd."""

import unittest

import support
from omniq import errors
from omniq.models.task import Task


class TestActions(support.MemoryQueueCase):
    def test_retry_and_cancel(self):
        q = self.q
        t = self.run_(q.enqueue(Task(func="x", queue_name="act-retry")))
        d = self.run_(q.dequeue("act-retry"))
        self.assertEqual(self.run_(q.fail(d, "boom")).state, "failed")
        retried = self.run_(q.retry(t.id))
        self.assertEqual((retried.id, retried.state), (t.id, "pending"))
        again = self.run_(q.dequeue("act-retry"))
        self.assertEqual(again.id, t.id)
        self.assertGreater(again.attempt, d.attempt)
        # Running now: neither retried nor cancelled.
        with self.assertRaises(errors.TaskState) as cm:
            self.run_(q.retry(t.id))
        self.assertEqual((cm.exception.code, cm.exception.status), ("task_state", 409))
        with self.assertRaises(errors.TaskState):
            self.run_(q.cancel(t.id))
        self.assertEqual(self.run_(q.get_task(t.id)).state, "running")

        p = self.run_(q.enqueue(Task(func="x", queue_name="act-cancel")))
        dep = self.run_(q.enqueue(Task(func="x", queue_name="act-cancel", depends_on=[p.id])))
        self.assertEqual(self.run_(q.cancel(p.id)).state, "cancelled")
        self.assertEqual(self.run_(q.get_task(dep.id)).state, "cancelled")
        with self.assertRaises(errors.TaskState):
            self.run_(q.cancel(p.id))
        with self.assertRaises(errors.TaskNotFound):
            self.run_(q.retry("no-such-task"))
        with self.assertRaises(errors.TaskNotFound):
            self.run_(q.cancel("no-such-task"))
        # The blocking view has them too.
        self.assertEqual(q.sync.retry(p.id).state, "pending")

    def test_pause_and_resume_queue(self):
        q = self.q
        t = self.run_(q.enqueue(Task(func="x", queue_name="act-pause")))
        st = self.run_(q.pause_queue("act-pause"))
        self.assertEqual((st["name"], st["paused"], st["counts"]), ("act-pause", True, {"pending": 1}))
        self.assertIn("act-pause", self.run_(q.stats())["paused_queues"])
        self.assertIsNone(self.run_(q.dequeue("act-pause")))
        with self.assertRaises(errors.TaskState):
            self.run_(q.pause_queue("act-pause"))
        st = q.sync.resume_queue("act-pause")
        self.assertFalse(st["paused"])
        self.assertNotIn("act-pause", self.run_(q.stats())["paused_queues"])
        self.assertEqual(self.run_(q.dequeue("act-pause")).id, t.id)
        with self.assertRaises(errors.TaskState):
            self.run_(q.resume_queue("act-pause"))
        with self.assertRaises(errors.InvalidArgument) as cm:
            self.run_(q.pause_queue("bad name"))
        self.assertEqual(cm.exception.reason, "invalid_queue_name")


if __name__ == "__main__":
    unittest.main()
