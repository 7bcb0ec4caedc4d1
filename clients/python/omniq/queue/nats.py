import urllib.parse

from .base import _DaemonTaskQueue


class NATSTaskQueue(_DaemonTaskQueue):
    """A queue in a private omniqd on NATS JetStream; ``servers`` is a list
    of ``host:port`` (or ``nats://host:port``); ``name`` names the log."""

    def __init__(self, servers, *, name: str | None = None, binary=None, serve_args=None):
        if isinstance(servers, str):
            servers = [servers]
        hosts = ",".join(s.removeprefix("nats://").rstrip("/") for s in servers)
        url = "nats://" + hosts
        if name:
            url += "?" + urllib.parse.urlencode({"name": name})
        super().__init__(url, binary=binary, serve_args=serve_args)
