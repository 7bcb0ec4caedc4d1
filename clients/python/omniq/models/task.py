"""omniq.models.task.Task, and how a task's func travels.

A callable func is sent as its import path, ``module:qualname``. A task read
back from the daemon gets its callable again: by import, or, for what cannot
be imported (a lambda, a nested function), from this process's own record of
the callables it enqueued. A func that is a plain string (a Go handler name)
stays a string.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from .. import _values
from ..errors import InvalidValue, UnresolvableFunc
from .schedule import Schedule

_MAX_RECORDED = 100_000
_lock = threading.Lock()
_by_task: dict[str, Callable[..., Any]] = {}
_by_name: dict[str, Callable[..., Any]] = {}


def func_name(func: Any) -> str:
    """The name a func is sent as: a string as it is, a callable as
    ``module:qualname``."""
    if isinstance(func, str):
        if not func:
            raise InvalidValue("func must not be empty")
        return str(func)
    if not callable(func):
        raise InvalidValue(f"func must be a callable or a handler name, not {type(func).__name__}")
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise InvalidValue(f"func {func!r:.60} has no __module__ and __qualname__ to name it by")
    return f"{module}:{qualname}"


def remember(task_id: str, name: str, func: Callable[..., Any]) -> None:
    """Record the callable a task was enqueued with, for this process."""
    with _lock:
        if len(_by_task) >= _MAX_RECORDED:
            _by_task.pop(next(iter(_by_task)))
        _by_task[task_id] = func
        _by_name[name] = func


def is_python_path(name: str) -> bool:
    module, sep, qualname = name.partition(":")
    return bool(sep) and bool(qualname) and all(p.isidentifier() for p in module.split("."))


def resolve(name: str, task_id: str = "", schedule_id: str = "") -> Callable[..., Any] | None:
    """The callable name stands for, or None: this process's record (by task
    id, by the schedule that fired it, then by name), then import."""
    with _lock:
        for key in (task_id, schedule_id):
            if key and key in _by_task:
                return _by_task[key]
    if is_python_path(name):
        module, _, qualname = name.partition(":")
        if "<" not in qualname:
            try:
                obj: Any = importlib.import_module(module)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
                if callable(obj):
                    return obj
            except Exception:
                pass
    with _lock:
        return _by_name.get(name)


class UnresolvedFunc(str):
    """A func name this process has no callable for: a string (equal to the
    name, as a handler name is), which raises UnresolvableFunc, naming the
    func and why, when called."""

    why: str

    def __new__(cls, name: str, why: str) -> "UnresolvedFunc":
        self = super().__new__(cls, name)
        self.why = why
        return self

    @property
    def name(self) -> str:
        return str.__str__(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnresolvableFunc(f"cannot call func {self.name!r}: {self.why}")


def func_from_wire(name: str, task_id: str, schedule_id: str = "") -> Any:
    """A task's func as read back: its callable when this process can find
    one, else the name as an UnresolvedFunc."""
    f = resolve(name, task_id, schedule_id)
    if f is not None:
        return f
    if is_python_path(name):
        return UnresolvedFunc(name, "it cannot be imported (a lambda or nested function is found only in the "
                                    "process that enqueued it) and this process did not enqueue it")
    return UnresolvedFunc(name, "it is a handler name, not a Python callable: a worker that registered it "
                                "(omniq.worker.Worker.register, or a Go client's Register) runs it")


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Task:
    """A task: ``func`` (a callable, or a handler name) called with ``args``
    and ``kwargs``. ``ttl`` is seconds; ``schedule`` makes it delayed or
    recurring. The fields after ``schedule`` are the daemon's (read only)."""

    func: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    id: str = field(default_factory=_new_id)
    queue_name: str = "default"
    priority: int = 0
    ttl: int | float | None = None
    retries: int = 0
    max_retries: int | None = None
    depends_on: list[str] = field(default_factory=list)
    schedule: Schedule | None = None
    meta: dict[str, str] = field(default_factory=dict)
    # Set by the daemon.
    state: str | None = None
    attempt: int = 0
    result: Any = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    lease_deadline: datetime | None = None
    ready_at: datetime | None = None
    next_run_at: datetime | None = None
    schedule_id: str | None = None
    fires: int = 0
    cancelled_by: str | None = None

    @property
    def func_name(self) -> str:
        """The name the func travels as."""
        return func_name(self.func)

    def to_wire(self) -> dict[str, Any]:
        """The task as the daemon's TaskSpec; InvalidValue for what JSON
        cannot carry."""
        out: dict[str, Any] = {"func": self.func_name}
        if self.id:
            out["id"] = self.id
        if not isinstance(self.args, (tuple, list)):
            raise InvalidValue(f"args must be a tuple, not {type(self.args).__name__}")
        if self.args:
            out["args"] = _values.check_value("args", list(self.args))
        if not isinstance(self.kwargs, dict):
            raise InvalidValue(f"kwargs must be a dict, not {type(self.kwargs).__name__}")
        if self.kwargs:
            out["kwargs"] = _values.check_value("kwargs", self.kwargs)
        if self.queue_name and self.queue_name != "default":
            out["queue_name"] = self.queue_name
        for name in ("priority", "retries", "max_retries"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidValue(f"{name} must be an int, not {type(v).__name__}")
            if v or name == "max_retries":
                out[name] = v
        if self.ttl is not None:
            out["ttl"] = _values.format_duration("ttl", self.ttl)
        if self.depends_on:
            out["depends_on"] = [str(d) for d in self.depends_on]
        if self.schedule is not None:
            if not isinstance(self.schedule, Schedule):
                raise InvalidValue(f"schedule must be a Schedule, not {type(self.schedule).__name__}")
            s = self.schedule.to_wire()
            if s:
                out["schedule"] = s
        if self.meta:
            out["meta"] = _values.check_value("meta", self.meta)
        return out

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Task:
        tid = d.get("id", "")
        sid = d.get("schedule_id") or ""
        t = cls(func=func_from_wire(d.get("func", ""), tid, sid), id=tid)
        t.args = tuple(d.get("args") or ())
        t.kwargs = dict(d.get("kwargs") or {})
        t.queue_name = d.get("queue_name") or "default"
        t.priority = d.get("priority", 0)
        t.ttl = _values.parse_seconds(d.get("ttl"))
        t.retries = d.get("retries", 0)
        t.max_retries = d.get("max_retries")
        t.depends_on = list(d.get("depends_on") or [])
        t.schedule = Schedule.from_wire(d.get("schedule"))
        t.meta = dict(d.get("meta") or {})
        t.state = d.get("state")
        t.attempt = d.get("attempt", 0)
        t.result = d.get("result")
        t.error = d.get("error")
        for name in ("created_at", "updated_at", "finished_at", "lease_deadline", "ready_at", "next_run_at"):
            setattr(t, name, _values.parse_time(d.get(name)))
        t.schedule_id = sid or None
        t.fires = d.get("fires", 0)
        t.cancelled_by = d.get("cancelled_by")
        return t
