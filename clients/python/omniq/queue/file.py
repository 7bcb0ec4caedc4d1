import os

from .base import _DaemonTaskQueue


class FileTaskQueue(_DaemonTaskQueue):
    """A queue in a private omniqd on ``file://base_dir`` (segmented files)."""

    def __init__(self, base_dir: str, *, binary=None, serve_args=None):
        super().__init__("file://" + os.path.abspath(base_dir), binary=binary, serve_args=serve_args)
