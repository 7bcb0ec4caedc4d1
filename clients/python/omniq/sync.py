"""omniq.sync.Queue: the same API with blocking methods, for code that is
not async.

    from omniq.sync import Queue
    with Queue(store="memory://") as q:          # starts a private omniqd
        q.enqueue(Task(func="add", args=(1, 2)))
    q = Queue("http://127.0.0.1:7070", token=...)  # an omniqd that runs
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

from ._core import Core, TaskPage
from .models.task import Task


class Queue:
    """Blocking twin of the async queues. ``url``: an omniqd that runs;
    ``store``: start a private one on this store URL (``memory://``,
    ``sqlite:///path``, ...)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, store: str | None = None,
                 binary: str | None = None, serve_args: list[str] | None = None, _core: Core | None = None):
        self._core = _core or Core(url, token, store=store, binary=binary, serve_args=serve_args)

    @property
    def url(self) -> str:
        return self._core.url

    def enqueue(self, task: Task) -> Task:
        return self._core.enqueue(task)

    def enqueue_many(self, tasks: Iterable[Task]) -> list[Task]:
        return self._core.enqueue_many(tasks)

    def dequeue(self, queue_name: str = "default", wait: float | None = None) -> Task | None:
        return self._core.dequeue(queue_name, wait)

    def dequeue_many(self, queue_name: str = "default", n: int = 1, wait: float | None = None) -> list[Task]:
        return self._core.dequeue_many(queue_name, n, wait)

    def get_task(self, task_id: str) -> Task | None:
        return self._core.get_task(task_id)

    def delete_task(self, task_id: str) -> None:
        self._core.delete_task(task_id)

    def complete(self, task: Task | str, result: Any = None, *, attempt: int | None = None) -> Task:
        return self._core.complete(task, result, attempt=attempt)

    def fail(self, task: Task | str, error: str | BaseException = "", *, attempt: int | None = None) -> Task:
        return self._core.fail(task, error, attempt=attempt)

    def heartbeat(self, task: Task | str, *, attempt: int | None = None) -> Task:
        return self._core.heartbeat(task, attempt=attempt)

    def record_outcomes(self, outcomes: list[dict[str, Any]], queues: list[str] | None = None, n: int = 0,
                        wait: float | None = None) -> tuple[list[dict[str, Any]], list[Task]]:
        return self._core.outcomes(outcomes, queues, n, wait)

    def pause_schedule(self, task_id: str) -> Task:
        return self._core.pause_schedule(task_id)

    def resume_schedule(self, task_id: str) -> Task:
        return self._core.resume_schedule(task_id)

    def retry(self, task_id: str) -> Task:
        return self._core.retry(task_id)

    def cancel(self, task_id: str) -> Task:
        return self._core.cancel(task_id)

    def pause_queue(self, queue_name: str = "default") -> dict[str, Any]:
        return self._core.pause_queue(queue_name)

    def resume_queue(self, queue_name: str = "default") -> dict[str, Any]:
        return self._core.resume_queue(queue_name)

    def history(self, task_id: str) -> list[dict[str, Any]]:
        return self._core.history(task_id)

    def stats(self) -> dict[str, Any]:
        return self._core.stats()

    def list_tasks(self, *, queue: str | None = None, state: str | None = None, func: Any = None,
                   search: str | None = None, enqueued_after: datetime | None = None,
                   enqueued_before: datetime | None = None, cursor: str | None = None,
                   limit: int | None = None) -> TaskPage:
        """One page of the tasks that match: a TaskPage(tasks, next_cursor),
        next_cursor None only at the end (see
        omniq.queue.base.OmniQDTaskQueue.list_tasks for the filters)."""
        return self._core.list_tasks(queue=queue, state=state, func=func, search=search,
                                     enqueued_after=enqueued_after, enqueued_before=enqueued_before,
                                     cursor=cursor, limit=limit)

    def iter_tasks(self, *, queue: str | None = None, state: str | None = None, func: Any = None,
                   search: str | None = None, enqueued_after: datetime | None = None,
                   enqueued_before: datetime | None = None, cursor: str | None = None,
                   limit: int | None = None) -> Iterator[Task]:
        """Every task that matches, a page of ``limit`` fetched at a time
        until the end; bad filters raise at the call, before any request."""
        return self._core.iter_tasks(queue=queue, state=state, func=func, search=search,
                                     enqueued_after=enqueued_after, enqueued_before=enqueued_before,
                                     cursor=cursor, limit=limit)

    def work(self, concurrency: int = 1, *, queues: list[str] | tuple[str, ...] = ("default",),
             handlers: dict[str, Callable[..., Any]] | None = None, **kw: Any) -> None:
        """Run an omniq.worker.Worker until KeyboardInterrupt (blocking)."""
        from .worker import Worker
        w = Worker(self, concurrency, queues=queues, handlers=handlers, **kw)
        try:
            asyncio.run(w.run())
        except KeyboardInterrupt:
            pass

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
