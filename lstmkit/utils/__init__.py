"""Framework utilities: Hydra entry points and config helpers, run reporting, RNG state, optional imports."""

from lstmkit.utils.imports import require
from lstmkit.utils.memory import keep_freed_memory

__all__ = ["keep_freed_memory", "require"]
