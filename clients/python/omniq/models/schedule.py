"""omniq.models.schedule.Schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import _values


@dataclass
class Schedule:
    """When a task runs: once at ``run_at`` (a datetime; naive means UTC), or
    recurring by ``cron`` (5 fields, UTC) or every ``interval`` (a timedelta,
    at least a second). ``paused`` holds it until resumed."""

    run_at: datetime | None = None
    cron: str | None = None
    interval: timedelta | None = None
    paused: bool = False

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.run_at is not None:
            out["run_at"] = _values.format_time(self.run_at)
        if self.cron:
            out["cron"] = self.cron
        if self.interval is not None:
            if not isinstance(self.interval, timedelta):
                raise _values.InvalidValue(f"interval must be a timedelta, not {type(self.interval).__name__}")
            out["interval"] = _values.format_duration("interval", self.interval)
        if self.paused:
            out["paused"] = True
        return out

    @classmethod
    def from_wire(cls, d: dict[str, Any] | None) -> Schedule | None:
        if not d:
            return None
        return cls(run_at=_values.parse_time(d.get("run_at")), cron=d.get("cron") or None,
                   interval=_values.seconds_to_timedelta(d.get("interval")), paused=bool(d.get("paused", False)))
