import urllib.parse

from .base import _DaemonTaskQueue


class RedisTaskQueue(_DaemonTaskQueue):
    """A queue in a private omniqd on Redis at ``host:port``, database ``db``;
    ``name`` names the log."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, db: int = 0, *, name: str | None = None,
                 binary=None, serve_args=None):
        url = f"redis://{host}:{int(port)}/{int(db)}"
        if name:
            url += "?" + urllib.parse.urlencode({"name": name})
        super().__init__(url, binary=binary, serve_args=serve_args)
