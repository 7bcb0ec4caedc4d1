"""omniq.queue.base.BaseTaskQueue, and the class every backend shares."""

from __future__ import annotations

import abc
import asyncio
from datetime import datetime
from typing import Any, AsyncIterator, Iterable

from .._core import Core, TaskPage, list_query
from ..models.task import Task


class BaseTaskQueue(abc.ABC):
    """The task queue interface."""

    @abc.abstractmethod
    async def enqueue(self, task: Task) -> Task:
        """Add a task; sets task.id (when empty) and its state."""

    @abc.abstractmethod
    async def dequeue(self, queue_name: str = "default", wait: float | None = None) -> Task | None:
        """Lease the next ready task of queue_name, or None."""

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> Task | None:
        """The task as it stands, or None when there is no such task."""

    @abc.abstractmethod
    async def delete_task(self, task_id: str) -> None:
        """Delete a task (cancelling what depends on it)."""


class OmniQDTaskQueue(BaseTaskQueue):
    """A task queue served by an omniqd already running at ``url``
    (``token``: its bearer token).

    Every method is a coroutine; the blocking HTTP call runs in a thread.
    ``queue.sync`` is the same queue with blocking methods."""

    def __init__(self, url: str = "http://127.0.0.1:7070", token: str | None = None, **kw: Any):
        self._core = Core(url, token, **kw)

    # The backends start their own omniqd on a store URL.
    @classmethod
    def _on_store(cls, store: str, *, binary: str | None = None, serve_args: list[str] | None = None) -> Core:
        return Core(store=store, binary=binary, serve_args=serve_args)

    @property
    def url(self) -> str:
        """The daemon's URL."""
        return self._core.url

    @property
    def sync(self):
        """This queue with blocking methods (omniq.sync.Queue)."""
        from ..sync import Queue
        return Queue(_core=self._core)

    async def _run(self, fn, *args: Any, **kw: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kw)

    async def enqueue(self, task: Task) -> Task:
        return await self._run(self._core.enqueue, task)

    async def enqueue_many(self, tasks: Iterable[Task]) -> list[Task]:
        """Enqueue tasks atomically (all or none)."""
        return await self._run(self._core.enqueue_many, list(tasks))

    async def dequeue(self, queue_name: str = "default", wait: float | None = None) -> Task | None:
        return await self._run(self._core.dequeue, queue_name, wait)

    async def dequeue_many(self, queue_name: str = "default", n: int = 1, wait: float | None = None) -> list[Task]:
        return await self._run(self._core.dequeue_many, queue_name, n, wait)

    async def get_task(self, task_id: str) -> Task | None:
        return await self._run(self._core.get_task, task_id)

    async def delete_task(self, task_id: str) -> None:
        await self._run(self._core.delete_task, task_id)

    async def complete(self, task: Task | str, result: Any = None, *, attempt: int | None = None) -> Task:
        """Complete a leased task with result (StaleLease if the lease is gone)."""
        return await self._run(self._core.complete, task, result, attempt=attempt)

    async def fail(self, task: Task | str, error: str | BaseException = "", *, attempt: int | None = None) -> Task:
        """Fail the lease's attempt (retried while retries are left)."""
        return await self._run(self._core.fail, task, error, attempt=attempt)

    async def heartbeat(self, task: Task | str, *, attempt: int | None = None) -> Task:
        """Extend the lease by the daemon's lease timeout."""
        return await self._run(self._core.heartbeat, task, attempt=attempt)

    async def record_outcomes(self, outcomes: list[dict[str, Any]], queues: list[str] | None = None, n: int = 0,
                              wait: float | None = None) -> tuple[list[dict[str, Any]], list[Task]]:
        """POST /v1/outcomes: record outcomes and lease up to n tasks."""
        return await self._run(self._core.outcomes, outcomes, queues, n, wait)

    async def pause_schedule(self, task_id: str) -> Task:
        return await self._run(self._core.pause_schedule, task_id)

    async def resume_schedule(self, task_id: str) -> Task:
        return await self._run(self._core.resume_schedule, task_id)

    async def retry(self, task_id: str) -> Task:
        """Give a task that ended failed, expired or cancelled a new attempt
        (TaskState for a task in another state); the task as it is after."""
        return await self._run(self._core.retry, task_id)

    async def cancel(self, task_id: str) -> Task:
        """Cancel a task that has not started, and the tasks that depend on
        it (TaskState for one running or ended); the task as it is after."""
        return await self._run(self._core.cancel, task_id)

    async def pause_queue(self, queue_name: str = "default") -> dict[str, Any]:
        """Stop workers from taking tasks of the queue until resume_queue
        (TaskState when it is paused already); the queue's {"name", "paused",
        "counts"}."""
        return await self._run(self._core.pause_queue, queue_name)

    async def resume_queue(self, queue_name: str = "default") -> dict[str, Any]:
        """Undo pause_queue (TaskState when the queue is not paused)."""
        return await self._run(self._core.resume_queue, queue_name)

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        """Every event about the task, in log order."""
        return await self._run(self._core.history, task_id)

    async def stats(self) -> dict[str, Any]:
        return await self._run(self._core.stats)

    async def list_tasks(self, *, queue: str | None = None, state: str | None = None, func: Any = None,
                         search: str | None = None, enqueued_after: datetime | None = None,
                         enqueued_before: datetime | None = None, cursor: str | None = None,
                         limit: int | None = None) -> TaskPage:
        """One page of the tasks that match every filter given (GET
        /v1/tasks), in id order: a TaskPage(tasks, next_cursor).

        ``queue``, ``state`` (as get_task reports it: a delayed pending task
        is "waiting"), ``func`` (a handler name or a callable), ``search``
        (tasks whose id, or the JSON text of whose args, kwargs or meta,
        contains it, ignoring case), ``enqueued_after`` (at or after) and
        ``enqueued_before`` (strictly before; datetimes, naive meaning UTC).
        ``limit``: tasks per page, 1 to 1000 (the daemon's default, 50, when
        None). ``cursor``: the previous page's next_cursor.

        next_cursor is None only at the end; a page may hold fewer than
        ``limit`` tasks, none even, while more follow. iter_tasks pages for
        you. InvalidValue for a filter of the wrong type; InvalidArgument
        for one the daemon refuses (an unknown state, a limit out of range,
        enqueued_before not after enqueued_after)."""
        return await self._run(self._core.list_tasks, queue=queue, state=state, func=func, search=search,
                               enqueued_after=enqueued_after, enqueued_before=enqueued_before,
                               cursor=cursor, limit=limit)

    async def iter_tasks(self, *, queue: str | None = None, state: str | None = None, func: Any = None,
                         search: str | None = None, enqueued_after: datetime | None = None,
                         enqueued_before: datetime | None = None, cursor: str | None = None,
                         limit: int | None = None) -> AsyncIterator[Task]:
        """Every task that matches (``async for t in q.iter_tasks(...)``),
        fetching a page of ``limit`` at a time until the end; the filters
        are list_tasks'. Pages are cut by id: a task that changes state while
        the iteration runs is listed once, or not at all when it no longer
        matches; none is listed twice."""
        filters = dict(queue=queue, state=state, func=func, search=search, enqueued_after=enqueued_after,
                       enqueued_before=enqueued_before, cursor=cursor, limit=limit)
        list_query(**filters)  # bad filters raise at the first step
        while True:
            page = await self._run(self._core.list_tasks, **filters)
            for t in page.tasks:
                yield t
            if page.next_cursor is None:
                return
            filters["cursor"] = page.next_cursor

    def close(self) -> None:
        """Stop using the queue; a backend's own omniqd is stopped."""
        self._core.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _DaemonTaskQueue(OmniQDTaskQueue):
    def __init__(self, store: str, *, binary: str | None = None, serve_args: list[str] | None = None):
        self.store_url = store
        self._core = Core(store=store, binary=binary, serve_args=serve_args)
