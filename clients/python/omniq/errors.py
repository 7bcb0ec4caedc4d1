"""Exceptions of the omniq package.

Errors the daemon answers are named after its error codes (docs/http-api.md):
``invalid_argument`` is :class:`InvalidArgument`, ``not_found``
:class:`TaskNotFound`, ``stale_lease`` :class:`StaleLease`, ``task_state``
:class:`TaskState`, and so on. Each
carries ``code``, ``reason`` (for ``invalid_argument``: which check failed),
``message`` and the HTTP ``status``.
"""

from __future__ import annotations


class OmniQError(Exception):
    """Base class of every error this package raises."""


class DaemonError(OmniQError):
    """The omniqd child could not be started or stopped."""


class BinaryNotFound(DaemonError, FileNotFoundError):
    """No omniqd binary: neither $OMNIQ_BIN nor PATH names one."""


class InvalidValue(OmniQError, TypeError):
    """A value JSON cannot carry exactly (a set, bytes, a datetime in args,
    a float NaN, an integer outside int64, a non-string key, ...): refused
    before anything is sent."""


class UnresolvableFunc(OmniQError, LookupError):
    """A task's func names a callable this process cannot find."""


class ConnectionFailed(OmniQError, ConnectionError):
    """The daemon could not be reached."""


class APIError(OmniQError):
    """An error answer of the daemon: ``{"error":{"code","message","reason"}}``."""

    code = ""

    def __init__(self, message: str = "", *, code: str = "", reason: str = "", status: int = 0, retry_after: float = 0.0):
        self.code = code or type(self).code
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after
        text = f"{self.code}: {message}" if message else self.code
        if reason:
            text += f" ({reason})"
        super().__init__(text)


class InvalidArgument(APIError, ValueError):
    code = "invalid_argument"


class Unauthorized(APIError, PermissionError):
    code = "unauthorized"


class TaskNotFound(APIError, LookupError):
    code = "not_found"


class Archived(TaskNotFound):
    code = "archived"


class MethodNotAllowed(APIError):
    code = "method_not_allowed"


class RateLimited(APIError):
    code = "rate_limited"


class StaleLease(APIError):
    code = "stale_lease"


class TaskState(APIError):
    """The task's state does not allow the action (retry of a task that did
    not end failed, expired or cancelled; cancel of one running or ended),
    or the queue is paused already (not paused, for resume_queue)."""
    code = "task_state"


class PayloadTooLarge(APIError, ValueError):
    code = "payload_too_large"


class Internal(APIError):
    code = "internal"


class Unavailable(APIError):
    code = "unavailable"


class Closed(Unavailable):
    code = "closed"


_BY_CODE = {c.code: c for c in (InvalidArgument, Unauthorized, TaskNotFound, Archived, MethodNotAllowed,
                                RateLimited, StaleLease, TaskState, PayloadTooLarge, Internal, Unavailable, Closed)}


def error_for(code: str, message: str = "", reason: str = "", status: int = 0, retry_after: float = 0.0) -> APIError:
    """The exception for an error code of the daemon (APIError for an unknown one)."""
    cls = _BY_CODE.get(code, APIError)
    return cls(message, code=code, reason=reason, status=status, retry_after=retry_after)


__all__ = [
    "OmniQError", "DaemonError", "BinaryNotFound", "InvalidValue", "UnresolvableFunc", "ConnectionFailed",
    "APIError", "InvalidArgument", "Unauthorized", "TaskNotFound", "Archived", "MethodNotAllowed",
    "RateLimited", "StaleLease", "TaskState", "PayloadTooLarge", "Internal", "Unavailable", "Closed", "error_for",
]
