"""Functional LSTM API and backend dispatch (aten, reference, triton)."""

import importlib.util
import os

import torch

from lstmkit.ops.functional import BACKEND_NAMES, Variant, lstm, resolve_backend
from lstmkit.ops.recurrence import VARIANT_INPUTS, available_backends, get_backend, recurrence, register_backend

# the Triton backend registers itself where CUDA or TRITON_INTERPRET=1 is present; elsewhere its kernels are not
# imported at all (compiling their definitions takes a noticeable part of a CPU run's start-up)
_TRITON_USABLE = torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")
if _TRITON_USABLE and importlib.util.find_spec("triton") is not None:
    from lstmkit.ops import triton_backend  # noqa: F401

__all__ = [
    "BACKEND_NAMES", "VARIANT_INPUTS", "Variant", "available_backends", "get_backend", "lstm", "recurrence",
    "register_backend", "resolve_backend",
]
