"""Functional LSTM API and backend dispatch (aten, reference, triton)."""

import importlib.util

from lstmkit.ops.functional import BACKEND_NAMES, Variant, lstm, resolve_backend
from lstmkit.ops.recurrence import VARIANT_INPUTS, available_backends, get_backend, recurrence, register_backend

if importlib.util.find_spec("triton") is not None:  # registers "triton" where CUDA or TRITON_INTERPRET=1 is present
    from lstmkit.ops import triton_backend  # noqa: F401

__all__ = [
    "BACKEND_NAMES", "VARIANT_INPUTS", "Variant", "available_backends", "get_backend", "lstm", "recurrence",
    "register_backend", "resolve_backend",
]
