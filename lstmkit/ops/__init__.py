"""Functional LSTM API and backend dispatch (aten, reference, triton)."""

from lstmkit.ops.functional import BACKEND_NAMES, lstm, lstm_cell, resolve_backend
from lstmkit.ops.recurrence import available_backends, recurrence, register_backend

__all__ = [
    "BACKEND_NAMES", "available_backends", "lstm", "lstm_cell", "recurrence", "register_backend", "resolve_backend",
]
