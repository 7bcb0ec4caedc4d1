"""Task queues: each backend class starts a private omniqd on its store;
OmniQDTaskQueue speaks to one that already runs."""

from .base import BaseTaskQueue, OmniQDTaskQueue
from .file import FileTaskQueue
from .memory import MemoryTaskQueue
from .nats import NATSTaskQueue
from .postgres import PostgreSQLTaskQueue
from .redis import RedisTaskQueue
from .sqlite import SQLiteTaskQueue

__all__ = ["BaseTaskQueue", "OmniQDTaskQueue", "MemoryTaskQueue", "FileTaskQueue", "SQLiteTaskQueue",
           "PostgreSQLTaskQueue", "RedisTaskQueue", "NATSTaskQueue"]
