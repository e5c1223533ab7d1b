"""Optional dependencies: import them where they are used, and name the pip extra when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise ``ModuleNotFoundError`` naming the ``lstmkit[extra]`` that provides it.

    ``purpose`` completes the sentence "<purpose> needs <module>", e.g. ``"the sunspots data module"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        raise ModuleNotFoundError(
            f"{purpose} needs the optional package {top!r}, which is not installed; "
            f"install it with: pip install 'lstmkit[{extra}]'  (or: pip install {top})",
            name=top,
        ) from error
