"""Task and Schedule."""

from .schedule import Schedule
from .task import Task

__all__ = ["Task", "Schedule"]
