"""Encoding of task values to the daemon's JSON and back."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import InvalidValue

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_DEPTH = 32


def check_value(what: str, v: Any, depth: int = 0) -> Any:
    """Return v as JSON-ready data, or raise InvalidValue for what JSON
    cannot carry exactly. Lists and tuples nested in args are sent as
    arrays (and come back as lists)."""
    if depth > MAX_DEPTH:
        raise InvalidValue(f"{what}: nested deeper than {MAX_DEPTH} levels")
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if not INT64_MIN <= v <= INT64_MAX:
            raise InvalidValue(f"{what}: integer {v} does not fit in 64 bits")
        return int(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise InvalidValue(f"{what}: {v} is not a JSON number")
        return float(v)
    if isinstance(v, (list, tuple)):
        return [check_value(f"{what}[{i}]", x, depth + 1) for i, x in enumerate(v)]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise InvalidValue(f"{what}: key {k!r} is not a string (JSON object keys are strings)")
            out[k] = check_value(f"{what}[{k!r}]", x, depth + 1)
        return out
    raise InvalidValue(f"{what}: a {type(v).__name__} cannot be sent as JSON ({v!r:.60}); "
                       "use str, int, float, bool, None, list, tuple or dict")


_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$")


def format_time(dt: datetime) -> str:
    """RFC 3339 in UTC; a naive datetime is taken as UTC."""
    if not isinstance(dt, datetime):
        raise InvalidValue(f"run_at must be a datetime, not {type(dt).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        s += f".{dt.microsecond:06d}"
    return s + "Z"


def parse_time(s: str | None) -> datetime | None:
    """An RFC 3339 time (any number of fractional digits) as an aware UTC
    datetime; digits past microseconds are dropped."""
    if not s:
        return None
    m = _TIME.match(s)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    y, mo, d, h, mi, sec, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), micro, tzinfo=tz).astimezone(timezone.utc)


def format_duration(what: str, v: Any) -> Any:
    """A duration for the API: a timedelta is sent exactly, as a Go
    duration in microseconds; int and float as seconds."""
    if isinstance(v, timedelta):
        micros = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
        return f"{micros}us"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidValue(f"{what} must be seconds (int or float) or a timedelta, not {type(v).__name__}")
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        raise InvalidValue(f"{what}: {v} is not a duration")
    return v


def parse_seconds(v: Any) -> int | float | None:
    """Seconds as the API writes them; whole seconds as int."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def seconds_to_timedelta(v: Any) -> timedelta | None:
    if v is None:
        return None
    return timedelta(microseconds=round(float(v) * 1_000_000))
