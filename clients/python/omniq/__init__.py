"""omniq: the OmniQ task queue from Python, backed by the omniqd daemon."""

from . import errors
from .errors import *  # noqa: F401,F403
from ._core import TaskPage
from .models import Schedule, Task

__version__ = "0.1.0"
__all__ = ["Task", "TaskPage", "Schedule", "errors"] + errors.__all__
