"""Framework utilities: Hydra entry points and config helpers, run reporting, RNG state, optional imports."""

from lstmkit.utils.imports import require

__all__ = ["require"]
