"""Functional LSTM API and backend dispatch (aten, reference, triton)."""

import importlib.util

from lstmkit.ops.functional import BACKEND_NAMES, Variant, lstm, resolve_backend
from lstmkit.ops.recurrence import available_backends, recurrence, register_backend, variant_recurrence

if importlib.util.find_spec("triton") is not None:  # registers "triton" where CUDA or TRITON_INTERPRET=1 is present
    from lstmkit.ops import triton_backend  # noqa: F401

__all__ = [
    "BACKEND_NAMES", "Variant", "available_backends", "lstm", "recurrence", "register_backend", "resolve_backend",
    "variant_recurrence",
]
