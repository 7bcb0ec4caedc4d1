"""list_tasks and iter_tasks (GET /v1/tasks) on every backend: filters,
search, paging across pages, an empty result and refused filters."""

import asyncio
import unittest
from datetime import datetime, timedelta, timezone

import support
from omniq import TaskPage
from omniq.errors import InvalidArgument, InvalidValue
from omniq.models.schedule import Schedule
from omniq.models.task import Task

import omniq_test_funcs


class _List:
    backend = ""

    def test_list_tasks(self):
        async def main():
            async with support.open_queue(self.backend) as q:
                lst = [Task(func=omniq_test_funcs.multiply, args=(i, i), queue_name="lst") for i in range(5)]
                other = [Task(func="py.other", queue_name="other", kwargs={"who": "Bob@Example.com"},
                              meta={"n": str(i)}) for i in range(2)]
                await q.enqueue_many(lst + other)
                d = await q.dequeue("lst", wait=1)
                await q.complete(d, 1)
                lst_ids = sorted(t.id for t in lst)

                page = await q.list_tasks(queue="lst")
                self.assertIsInstance(page, TaskPage)
                self.assertEqual([t.id for t in page.tasks], lst_ids)
                self.assertIsNone(page.next_cursor)
                got = {t.id: t for t in page.tasks}
                self.assertEqual(got[d.id].state, "completed")
                self.assertEqual(got[d.id].result, 1)
                self.assertEqual(got[lst[1].id].func, omniq_test_funcs.multiply)
                self.assertEqual(got[lst[1].id].args, (1, 1))

                # Paging: pages of 2 until the cursor is None, each in id
                # order, none repeated.
                pages, cursor = [], None
                while True:
                    page = await q.list_tasks(queue="lst", limit=2, cursor=cursor)
                    pages.append([t.id for t in page.tasks])
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                    self.assertLess(len(pages), 10)
                self.assertEqual([len(p) for p in pages], [2, 2, 1])
                self.assertEqual(sum(pages, []), lst_ids)
                self.assertEqual([t.id async for t in q.iter_tasks(queue="lst", limit=2)], lst_ids)
                self.assertEqual(len([t async for t in q.iter_tasks(limit=3)]), 7)
                # A full last page: its cursor leads to an empty end page.
                page = await q.list_tasks(queue="lst", limit=5)
                self.assertEqual(len(page.tasks), 5)
                if page.next_cursor is not None:
                    self.assertEqual(await q.list_tasks(queue="lst", limit=5, cursor=page.next_cursor),
                                     TaskPage([], None))

                # Filters.
                ids = lambda page: [t.id for t in page.tasks]  # noqa: E731
                self.assertEqual(ids(await q.list_tasks(state="completed")), [d.id])
                self.assertEqual(ids(await q.list_tasks(queue="lst", state="pending")),
                                 [i for i in lst_ids if i != d.id])
                self.assertEqual(ids(await q.list_tasks(func=omniq_test_funcs.multiply)), lst_ids)
                self.assertEqual(ids(await q.list_tasks(func="py.other")), sorted(t.id for t in other))
                self.assertEqual(ids(await q.list_tasks(search="bob@EXAMPLE")), sorted(t.id for t in other))
                self.assertEqual(ids(await q.list_tasks(search=other[1].id[4:20])), [other[1].id])
                now = datetime.now(timezone.utc)
                self.assertEqual(len((await q.list_tasks(enqueued_after=now - timedelta(hours=1),
                                                         enqueued_before=now + timedelta(hours=1))).tasks), 7)
                naive_past = now.replace(tzinfo=None) - timedelta(hours=1)  # naive: UTC
                self.assertEqual(len((await q.list_tasks(enqueued_after=naive_past)).tasks), 7)

                # Empty results.
                self.assertEqual(await q.list_tasks(queue="nothing-here"), TaskPage([], None))
                self.assertEqual(await q.list_tasks(enqueued_after=now + timedelta(days=1)), TaskPage([], None))
                self.assertEqual(await q.list_tasks(enqueued_before=now - timedelta(days=1)), TaskPage([], None))
                self.assertEqual([t async for t in q.iter_tasks(state="failed")], [])

                # The blocking view.
                self.assertEqual([t.id for t in q.sync.iter_tasks(queue="lst", limit=2)], lst_ids)
                self.assertEqual(q.sync.list_tasks(state="completed").tasks[0].id, d.id)

                # A delayed task reads, and is listed, as waiting.
                later = Task(func="py.later", queue_name="later",
                             schedule=Schedule(run_at=now + timedelta(days=1)))
                await q.enqueue(later)
                self.assertEqual(ids(await q.list_tasks(state="waiting")), [later.id])
                self.assertEqual(ids(await q.list_tasks(queue="later", state="pending")), [])

                # Refused filters.
                for kw, reason in (({"state": "bogus"}, "unknown state"), ({"limit": 0}, "positive"),
                                   ({"limit": 5000}, "limit"), ({"search": "x" * 300}, "search"),
                                   ({"enqueued_after": now, "enqueued_before": now}, "not after")):
                    with self.subTest(**{k: str(v)[:20] for k, v in kw.items()}):
                        with self.assertRaises(InvalidArgument) as cm:
                            await q.list_tasks(**kw)
                        self.assertIn(reason, cm.exception.message)
                        self.assertEqual(cm.exception.status, 400)
                        with self.assertRaises(InvalidArgument):
                            [t async for t in q.iter_tasks(**kw)]
                        with self.assertRaises(InvalidArgument):
                            q.sync.iter_tasks(**kw).__next__()
                for kw in ({"limit": "10"}, {"limit": True}, {"state": 3}, {"queue": ["a"]},
                           {"enqueued_after": "yesterday"}, {"enqueued_before": 0}, {"func": 42},
                           {"func": ""}, {"cursor": 1}):
                    with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                        with self.assertRaises(InvalidValue):
                            await q.list_tasks(**kw)
                        with self.assertRaises(InvalidValue):
                            q.sync.iter_tasks(**kw)  # at the call, before any request
                        it = q.iter_tasks(**kw)
                        with self.assertRaises(InvalidValue):
                            await it.__anext__()
                with self.assertRaises(TypeError):
                    await q.list_tasks(color="red")
        asyncio.run(main())


for _name in support.BACKENDS:
    _cls = type(f"TestList{_name.capitalize()}", (_List, unittest.TestCase), {"backend": _name})
    globals()[_cls.__name__] = _cls
del _cls
