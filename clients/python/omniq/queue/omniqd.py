from .base import OmniQDTaskQueue

__all__ = ["OmniQDTaskQueue"]
