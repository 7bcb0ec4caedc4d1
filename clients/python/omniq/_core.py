"""The synchronous core every queue class uses: the API's calls."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any, Iterable, Iterator, NamedTuple

from . import _values
from ._daemon import Daemon
from ._http import HTTPClient
from .errors import Archived, InvalidValue, TaskNotFound
from .models import task as _task
from .models.task import Task


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _task_ref(task: Task | str, attempt: int | None) -> tuple[str, int]:
    if isinstance(task, Task):
        return task.id, task.attempt if attempt is None else attempt
    if attempt is None:
        raise TypeError("attempt is needed with a task id (pass the dequeued Task instead)")
    return str(task), attempt


def _wait(wait: float | None) -> dict[str, str]:
    if not wait:
        return {}
    return {"wait": f"{int(float(wait) * 1000)}ms"}


class TaskPage(NamedTuple):
    """One page of list_tasks: the tasks, in id order, and the cursor of
    the next page, None only at the end. A page may hold fewer tasks than
    its limit, none even, while more follow (the daemon bounds the work of
    one page): go on while next_cursor is not None."""

    tasks: list[Task]
    next_cursor: str | None


def list_query(*, queue: str | None = None, state: str | None = None, func: Any = None,
               search: str | None = None, enqueued_after: datetime | None = None,
               enqueued_before: datetime | None = None, cursor: str | None = None,
               limit: int | None = None) -> dict[str, str]:
    """The query of GET /v1/tasks for these filters (None, or an empty
    string: not filtered).
    InvalidValue for a filter of the wrong type; the daemon checks the
    values (a state it does not know, a limit out of 1..1000, a search
    text over 256 bytes, enqueued_before not after enqueued_after) and
    answers InvalidArgument."""
    q: dict[str, str] = {}
    for key, name, v in (("queue", "queue", queue), ("state", "state", state), ("q", "search", search),
                         ("cursor", "cursor", cursor)):
        if v is None:
            continue
        if not isinstance(v, str):
            raise InvalidValue(f"{name} must be a str, not {type(v).__name__}")
        if v:
            q[key] = v
    if func is not None:
        q["func"] = _task.func_name(func)
    for key, v in (("enqueued_after", enqueued_after), ("enqueued_before", enqueued_before)):
        if v is None:
            continue
        if not isinstance(v, datetime):
            raise InvalidValue(f"{key} must be a datetime, not {type(v).__name__}")
        q[key] = _values.format_time(v)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidValue(f"limit must be an int, not {type(limit).__name__}")
        q["limit"] = str(limit)
    return q


class Core:
    """Calls of the omniqd API, blocking; the async classes run them in a
    thread."""

    def __init__(self, url: str | None = None, token: str | None = None, *, store: str | None = None,
                 binary: str | None = None, serve_args: list[str] | None = None):
        self.daemon: Daemon | None = None
        if store is not None:
            self.daemon = Daemon(store, binary=binary, args=serve_args, token=token)
            url = self.daemon.url
        if url is None:
            raise ValueError("need the URL of a running omniqd, or a store to start one on")
        self.http = HTTPClient(url, token)
        self.url = url
        self.closed = False

    # -- tasks -----------------------------------------------------------
    def enqueue(self, task: Task) -> Task:
        if not isinstance(task, Task):
            raise TypeError(f"enqueue takes a Task, not {type(task).__name__}")
        spec = task.to_wire()
        _, ans = self.http.request("POST", "/v1/tasks", spec)
        self._after_enqueue(task, ans)
        return task

    def enqueue_many(self, tasks: Iterable[Task]) -> list[Task]:
        tasks = list(tasks)
        specs = [t.to_wire() for t in tasks]
        _, ans = self.http.request("POST", "/v1/tasks", {"tasks": specs})
        for t, a in zip(tasks, ans["tasks"]):
            self._after_enqueue(t, a)
        return tasks

    def _after_enqueue(self, task: Task, ans: dict[str, Any]) -> None:
        task.id = ans["id"]
        if callable(task.func) and not isinstance(task.func, (str, _task.UnresolvedFunc)):
            _task.remember(task.id, task.func_name, task.func)
        got = Task.from_wire(ans)
        for name in ("state", "attempt", "created_at", "updated_at", "ready_at", "next_run_at", "schedule_id"):
            setattr(task, name, getattr(got, name))

    def get_task(self, task_id: str) -> Task | None:
        try:
            _, ans = self.http.request("GET", f"/v1/tasks/{_q(task_id)}")
        except Archived:
            raise
        except TaskNotFound:
            return None
        return Task.from_wire(ans)

    def delete_task(self, task_id: str) -> None:
        self.http.request("DELETE", f"/v1/tasks/{_q(task_id)}")

    def dequeue(self, queue_name: str = "default", wait: float | None = None) -> Task | None:
        status, ans = self.http.request("POST", f"/v1/queues/{_q(queue_name)}/dequeue", query=_wait(wait))
        if status == 204 or ans is None:
            return None
        return Task.from_wire(ans)

    def dequeue_many(self, queue_name: str = "default", n: int = 1, wait: float | None = None) -> list[Task]:
        q = _wait(wait)
        q["n"] = str(n)
        status, ans = self.http.request("POST", f"/v1/queues/{_q(queue_name)}/dequeue", query=q)
        if status == 204 or ans is None:
            return []
        return [Task.from_wire(t) for t in ans.get("tasks", [])]

    def complete(self, task: Task | str, result: Any = None, *, attempt: int | None = None) -> Task:
        tid, att = _task_ref(task, attempt)
        body: dict[str, Any] = {"attempt": att}
        if result is not None:
            body["result"] = _values.check_value("result", result)
        _, ans = self.http.request("POST", f"/v1/tasks/{_q(tid)}/complete", body)
        return Task.from_wire(ans)

    def fail(self, task: Task | str, error: str | BaseException = "", *, attempt: int | None = None) -> Task:
        tid, att = _task_ref(task, attempt)
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        _, ans = self.http.request("POST", f"/v1/tasks/{_q(tid)}/fail", {"attempt": att, "error": str(error)})
        return Task.from_wire(ans)

    def heartbeat(self, task: Task | str, *, attempt: int | None = None) -> Task:
        tid, att = _task_ref(task, attempt)
        _, ans = self.http.request("POST", f"/v1/tasks/{_q(tid)}/heartbeat", {"attempt": att})
        return Task.from_wire(ans)

    def outcomes(self, outcomes: list[dict[str, Any]], queues: list[str] | None = None, n: int = 0,
                 wait: float | None = None) -> tuple[list[dict[str, Any]], list[Task]]:
        """POST /v1/outcomes: record outcomes (each {"id","attempt"} plus
        "result" or "error") and lease up to n tasks of queues."""
        body: dict[str, Any] = {"outcomes": outcomes}
        if n:
            lease: dict[str, Any] = {"queues": list(queues or ["default"]), "n": n}
            if wait:
                lease["wait"] = f"{int(float(wait) * 1000)}ms"
            body["lease"] = lease
        _, ans = self.http.request("POST", "/v1/outcomes", body)
        return list(ans.get("outcomes") or []), [Task.from_wire(t) for t in ans.get("tasks") or []]

    def _post_task(self, path: str) -> Task:
        """POST path with no body; the answer is the task acted on."""
        _, ans = self.http.request("POST", path)
        return Task.from_wire(ans)

    # -- schedules, history, stats -------------------------------------------
    def pause_schedule(self, task_id: str) -> Task:
        return self._post_task(f"/v1/schedules/{_q(task_id)}/pause")

    def resume_schedule(self, task_id: str) -> Task:
        return self._post_task(f"/v1/schedules/{_q(task_id)}/resume")

    # -- operator actions ------------------------------------------------------
    def retry(self, task_id: str) -> Task:
        return self._post_task(f"/v1/tasks/{_q(task_id)}/retry")

    def cancel(self, task_id: str) -> Task:
        return self._post_task(f"/v1/tasks/{_q(task_id)}/cancel")

    def pause_queue(self, queue_name: str = "default") -> dict[str, Any]:
        _, ans = self.http.request("POST", f"/v1/queues/{_q(queue_name)}/pause")
        return ans

    def resume_queue(self, queue_name: str = "default") -> dict[str, Any]:
        _, ans = self.http.request("POST", f"/v1/queues/{_q(queue_name)}/resume")
        return ans

    def history(self, task_id: str) -> list[dict[str, Any]]:
        _, ans = self.http.request("GET", f"/v1/tasks/{_q(task_id)}/history")
        return list(ans.get("events") or [])

    def stats(self) -> dict[str, Any]:
        _, ans = self.http.request("GET", "/v1/stats")
        return ans

    # -- listing ---------------------------------------------------------------
    def list_tasks(self, **filters: Any) -> TaskPage:
        """GET /v1/tasks: one page (list_query names the filters)."""
        _, ans = self.http.request("GET", "/v1/tasks", query=list_query(**filters))
        ans = ans or {}
        return TaskPage([Task.from_wire(t) for t in ans.get("tasks") or []], ans.get("next_cursor") or None)

    def iter_tasks(self, **filters: Any) -> Iterator[Task]:
        """Every task that matches, page after page from filters' cursor,
        until the daemon's cursor is empty. The filters are checked before
        the first request."""
        list_query(**filters)
        return self._pages(filters)

    def _pages(self, filters: dict[str, Any]) -> Iterator[Task]:
        while True:
            page = self.list_tasks(**filters)
            yield from page.tasks
            if page.next_cursor is None:
                return
            filters = {**filters, "cursor": page.next_cursor}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.http.abort()
        self.http.close()
        if self.daemon is not None:
            self.daemon.close()

    def clone(self) -> "Core":
        """A Core on the same daemon with connections of its own (it does
        not own the daemon)."""
        c = Core.__new__(Core)
        c.daemon = None
        c.http = HTTPClient(self.url, self.http._token)
        c.url = self.url
        c.closed = False
        return c
