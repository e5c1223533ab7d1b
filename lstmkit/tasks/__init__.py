"""LightningModules: :class:`Task` (shared wiring) and the tasks built on it.

Tasks live in their own modules (``lstmkit.tasks.forecasting.ForecastTask``, …) and are not imported here, so that
importing one does not pull in another's optional packages.
"""

from lstmkit.tasks.base import Task

__all__ = ["Task"]
