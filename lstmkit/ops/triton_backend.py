"""The ``triton`` backend: fused Triton recurrence kernels (``lstmkit.kernels``) behind the reference signatures.

Registered by ``lstmkit.ops`` when triton imports and either CUDA is available or TRITON_INTERPRET=1
(the kernels then run on CPU tensors, slowly, for tests). Per call:

- forward: ``lstmkit.kernels.launch.lstm_forward`` runs the recurrence; ``gates`` (T,B,4H, activated)
  and ``cells`` (T,B,H) are saved in the input dtype, as by the reference backend.
- backward: ``lstm_backward`` yields ``d_pre``, ``d_h0``, ``d_c0``; ``dW_hh = Σ_t da_tᵀ h_{t-1}`` is one
  GEMM here, after the loop (no atomics: bitwise reproducible).

Strategy (``"auto"`` | ``"step"`` | ``"sequence"``, see ``lstmkit.kernels.launch``): the environment
variable ``LSTMKIT_TRITON_STRATEGY`` sets the initial value, :func:`set_strategy` changes it for the
process. ``proj_size`` is not implemented by these kernels.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from lstmkit.kernels import launch
from lstmkit.ops.recurrence import register_backend

_strategy = "auto"


def set_strategy(name: str) -> str:
    """Select the kernel strategy for every later call; returns the previous one."""
    global _strategy
    if name not in launch.STRATEGIES:
        raise ValueError(f"strategy: expected one of {list(launch.STRATEGIES)}, got {name!r}")
    previous, _strategy = _strategy, name
    return previous


def get_strategy() -> str:
    return _strategy


def forward_fn(
    pre: Tensor,  # (T, B, 4H) input projection plus both biases
    w_hh: Tensor,  # (4H, H)
    h0: Tensor,  # (B, H)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None,  # must be None
    lengths: Tensor | None,  # (B,) sorted non-increasing, 1 <= len <= T
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Returns ``y (T,B,H), h_n (B,H), c_n (B,H), gates (T,B,4H), cells (T,B,H)``, all in ``pre.dtype``."""
    if w_hr is not None:
        raise NotImplementedError("the triton backend does not implement proj_size; use backend='reference'")
    return launch.lstm_forward(pre, w_hh, h0, c0, lengths, _strategy)


def backward_fn(
    grad_y: Tensor,  # (T, B, H)
    grad_h_n: Tensor,  # (B, H)
    grad_c_n: Tensor,  # (B, H)
    gates: Tensor,  # (T, B, 4H) saved by forward_fn
    cells: Tensor,  # (T, B, H) saved by forward_fn
    y: Tensor,  # (T, B, H) forward output
    w_hh: Tensor,  # (4H, H)
    h0: Tensor,  # (B, H)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None,  # must be None
    lengths: Tensor | None,  # (B,)
) -> tuple[Tensor, Tensor, Tensor, Tensor, None]:
    """Returns ``d_pre (T,B,4H), d_w_hh (4H,H), d_h0 (B,H), d_c0 (B,H), None``."""
    if w_hr is not None:
        raise NotImplementedError("the triton backend does not implement proj_size; use backend='reference'")
    d_pre, d_h0, d_c0 = launch.lstm_backward(grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0, lengths, _strategy)
    # steps past a row's length have d_pre = 0, so the zero outputs there in y contribute nothing
    h_before = torch.cat([h0.unsqueeze(0), y[:-1]])
    d_w_hh = d_pre.reshape(-1, d_pre.shape[-1]).t() @ h_before.reshape(-1, h_before.shape[-1])
    return d_pre, d_w_hh, d_h0, d_c0, None


def unsupported(*, device: torch.device, has_proj: bool = False, **config) -> str | None:
    """Why the triton backend cannot run a configuration, or None."""
    if has_proj:
        return "proj_size is not implemented by the triton kernels (NotImplemented); use backend='reference'"
    if device.type == "cuda":
        return None
    if device.type == "cpu" and launch.interpreting():
        return None
    return f"needs a CUDA device (got {device.type!r}), or TRITON_INTERPRET=1 for CPU tensors"


set_strategy(os.environ.get("LSTMKIT_TRITON_STRATEGY", "auto"))
if torch.cuda.is_available() or launch.interpreting():
    register_backend("triton", forward_fn, backward_fn, unsupported=unsupported)
