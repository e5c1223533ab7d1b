"""LightningModules: :class:`Task` (shared wiring) and the tasks built on it."""

from lstmkit.tasks.base import Task
from lstmkit.tasks.regression import RegressionTask

__all__ = ["RegressionTask", "Task"]
