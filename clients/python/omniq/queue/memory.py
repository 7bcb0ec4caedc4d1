from .base import _DaemonTaskQueue


class MemoryTaskQueue(_DaemonTaskQueue):
    """A queue in a private omniqd on ``memory://`` (gone when closed)."""

    def __init__(self, *, binary=None, serve_args=None):
        super().__init__("memory://", binary=binary, serve_args=serve_args)
