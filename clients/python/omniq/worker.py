"""omniq.worker.Worker: runs tasks on asyncio.

A worker leases tasks from omniqd and runs their funcs, up to
``concurrency`` at once: coroutine functions on the event loop, plain
functions in a thread (asyncio.to_thread). It answers each lease with its
attempt (the fencing token), heartbeats a task that runs for long before
its lease runs out, and sends finished outcomes and the next lease in one
request (POST /v1/outcomes), as the Go client's Work does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable

from . import _values
from .errors import (ConnectionFailed, InvalidValue, OmniQError, RateLimited, StaleLease, TaskNotFound,
                     Unavailable, Internal)
from .models.task import Task, UnresolvedFunc, is_python_path, resolve

log = logging.getLogger("omniq.worker")

_RETRYABLE = (ConnectionFailed, Unavailable, RateLimited, Internal)


class Worker:
    """Runs the tasks of ``queues`` (in order of preference) from ``queue``
    (an async queue of omniq.queue or an omniq.sync.Queue).

    A task's func is found, in order: the callable itself (when this process
    enqueued it, or it imports by its ``module:qualname``); a handler
    registered under its name (``register``, or ``handlers=``; this is how a
    task enqueued by name, from Go for instance, finds its Python function).
    A task whose func cannot be found fails that attempt with an error
    saying so.

    ``await worker.run()`` works until cancelled, or until ``stop()``; then
    it takes no new tasks, waits up to ``shutdown_timeout`` seconds for those
    running and records their outcomes. Tasks still running then are
    cancelled (coroutines) or left to their lease's expiry (threads). A
    task leased by the request in flight at that moment is run too: it is
    this worker's already, and dropped it would wait out its lease.
    """

    def __init__(self, queue: Any, concurrency: int = 1, *, queues: list[str] | tuple[str, ...] = ("default",),
                 handlers: dict[str, Callable[..., Any]] | None = None, poll_wait: float = 5.0,
                 poll_interval: float = 0.2, shutdown_timeout: float = 30.0):
        if concurrency < 1 or concurrency > 100:
            raise ValueError("concurrency must be 1..100")
        self._core = queue._core.clone()
        self.concurrency = concurrency
        self.queues = list(queues) if not isinstance(queues, str) else [queues]
        self.handlers: dict[str, Callable[..., Any]] = dict(handlers or {})
        self.poll_wait = poll_wait
        self.poll_interval = poll_interval
        self.shutdown_timeout = shutdown_timeout
        self._stopping = False
        self._call: asyncio.Future | None = None
        self._polling = False
        self._owed: list[dict[str, Any]] = []
        self.completed = 0
        self.failed = 0

    def register(self, name: str, fn: Callable[..., Any] | None = None):
        """Run fn for tasks whose func is name; usable as a decorator."""
        if fn is None:
            return lambda f: self.register(name, f)
        if not name or not callable(fn):
            raise ValueError("register needs a func name and a callable")
        self.handlers[name] = fn
        return fn

    def stop(self) -> None:
        """Stop taking tasks; run() returns once the running ones finish."""
        self._stopping = True
        if self._polling:
            self._core.http.abort()  # a long poll; a short call is let finish

    def _func(self, task: Task) -> Callable[..., Any]:
        f = task.func
        if callable(f) and not isinstance(f, UnresolvedFunc):
            return f
        name = str(f)
        if name in self.handlers:
            return self.handlers[name]
        if is_python_path(name):
            got = resolve(name, task.id, task.schedule_id or "")
            if got is not None:
                return got
            if isinstance(f, UnresolvedFunc):
                return f
        return UnresolvedFunc(name, "no handler is registered under this name (Worker.register)")

    async def _heartbeats(self, task: Task) -> None:
        # The lease's length on the daemon's clock (its deadline less the
        # time it was granted), heartbeated every third of it on ours, so
        # that clocks apart do not matter.
        lease = 30.0
        if task.lease_deadline and task.updated_at:
            lease = (task.lease_deadline - task.updated_at).total_seconds() or lease
        every = max(0.05, lease / 3)
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self._core.heartbeat, task.id, attempt=task.attempt)
            except (StaleLease, TaskNotFound):
                log.warning("task %s attempt %d: lease lost", task.id, task.attempt)
                return
            except OmniQError as e:
                log.warning("task %s: heartbeat failed: %s", task.id, e)

    async def _execute(self, task: Task) -> dict[str, Any]:
        out: dict[str, Any] = {"id": task.id, "attempt": task.attempt}
        hb = asyncio.create_task(self._heartbeats(task))
        try:
            fn = self._func(task)
            if inspect.iscoroutinefunction(fn):
                result = await fn(*task.args, **task.kwargs)
            else:
                result = await asyncio.to_thread(fn, *task.args, **task.kwargs)
                if inspect.isawaitable(result):
                    result = await result
            try:
                out["result"] = _values.check_value("result", result)
            except InvalidValue as e:
                out["error"] = f"the func returned an unstorable result: {e}"
        except asyncio.CancelledError:
            out["error"] = "cancelled: the worker stopped before the task finished"
        except Exception as e:  # the task's failure, recorded as its error
            out["error"] = f"{type(e).__name__}: {e}"
        finally:
            hb.cancel()
        return out

    async def _request(self, outs: list[dict[str, Any]], n: int, wait: float) -> list[Task]:
        # Until the daemon answers, outs are owed (self._owed) and the call
        # in flight is self._call (a long poll when self._polling): a
        # cancellation that lands meanwhile is caught by run(), which then
        # settles that call (_settle_call), so that no finished task's
        # outcome and no task leased to this worker is dropped.
        self._owed = outs
        delay = 0.1
        while True:
            self._polling = bool(n and wait)
            self._call = asyncio.ensure_future(
                asyncio.to_thread(self._core.outcomes, outs, self.queues, n, wait))
            # A call cut or left behind by a cancellation still ends; its
            # error is then nobody's to read.
            self._call.add_done_callback(lambda f: f.cancelled() or f.exception())
            try:
                results, leased = await asyncio.shield(self._call)
            except _RETRYABLE as e:
                self._call, self._polling = None, False
                if self._stopping and not outs:
                    return []
                pause = max(delay, getattr(e, "retry_after", 0) or 0)
                log.warning("omniqd: %s; retrying in %.1fs", e, pause)
                await asyncio.sleep(pause)
                delay = min(delay * 2, 5.0)
                continue
            self._call, self._polling, self._owed = None, False, []
            self._count(outs, results)
            return leased

    async def _settle_call(self) -> tuple[list[dict[str, Any]], list[Task]]:
        """After a cancellation: the outcomes still owed, and the tasks the
        call in flight leased to this worker. A long poll (which carries no
        outcomes) is cut, as it may last long; any other call is short and
        is let finish, so that its outcomes are recorded once and the tasks
        it leased are run rather than left to wait out their lease."""
        call, owed = self._call, self._owed
        self._call, self._owed = None, []
        if call is None:
            return owed, []
        if self._polling:
            self._core.http.abort()
        try:
            results, leased = await call
        except Exception:  # noqa: BLE001 - any failure leaves the outcomes unrecorded
            return owed, []  # sent again by _drain
        self._count(owed, results)
        return [], leased

    def _count(self, outs: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        for o, r in zip(outs, results):
            err = r.get("error")
            if err:
                log.warning("task %s attempt %s: outcome refused: %s", o["id"], o["attempt"], err.get("message"))
            elif "error" in o:
                self.failed += 1
            else:
                self.completed += 1

    async def run(self) -> None:
        """Work until cancelled or stop()."""
        running: dict[asyncio.Task, Task] = {}
        outs: list[dict[str, Any]] = []
        try:
            while not self._stopping:
                free = self.concurrency - len(running)
                if outs or free > 0:
                    wait = self.poll_wait if not running and not outs else 0
                    sent, outs = outs, []
                    for t in await self._request(sent, 0 if self._stopping else free, wait):
                        running[asyncio.create_task(self._execute(t))] = t
                if running:
                    timeout = None if self.concurrency - len(running) == 0 else self.poll_interval
                    done, _ = await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    for d in done:
                        running.pop(d)
                        outs.append(d.result())
        except asyncio.CancelledError:
            self._stopping = True
            owed, leased = await self._settle_call()
            outs = owed + outs
            for t in leased:
                running[asyncio.create_task(self._execute(t))] = t
            await self._drain(running, outs)
            self._core.close()
            raise
        except BaseException:
            for t in running:
                t.cancel()
            self._core.close()
            raise
        await self._drain(running, outs)
        self._core.close()

    async def _drain(self, running: dict[asyncio.Task, Task], outs: list[dict[str, Any]]) -> None:
        if running:
            done, late = await asyncio.wait(running, timeout=self.shutdown_timeout)
            for d in done:
                if not d.cancelled():
                    outs.append(d.result())
            for d in late:
                d.cancel()
        if outs:
            try:
                await asyncio.wait_for(self._request(outs, 0, 0), timeout=10)
            except (asyncio.TimeoutError, OmniQError) as e:
                log.warning("omniqd: outcomes not recorded at shutdown: %s", e)
