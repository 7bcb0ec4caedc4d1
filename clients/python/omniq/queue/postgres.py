import urllib.parse

from .base import _DaemonTaskQueue


class PostgreSQLTaskQueue(_DaemonTaskQueue):
    """A queue in a private omniqd on PostgreSQL at ``dsn``
    (``postgres://user@host:5432/db``); ``log`` names the log (its tables)."""

    def __init__(self, dsn: str, *, log: str | None = None, binary=None, serve_args=None):
        if log:
            dsn += ("&" if "?" in dsn else "?") + urllib.parse.urlencode({"log": log})
        super().__init__(dsn, binary=binary, serve_args=serve_args)
