import os

from .base import _DaemonTaskQueue


class SQLiteTaskQueue(_DaemonTaskQueue):
    """A queue in a private omniqd on ``sqlite://database_path``."""

    def __init__(self, database_path: str, *, binary=None, serve_args=None):
        super().__init__("sqlite://" + os.path.abspath(database_path), binary=binary, serve_args=serve_args)
