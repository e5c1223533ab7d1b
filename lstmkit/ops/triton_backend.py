"""The ``triton`` backend: fused Triton recurrence kernels (``lstmkit.kernels``) behind the reference signatures.

Registered by ``lstmkit.ops`` when triton imports and either CUDA is available or TRITON_INTERPRET=1
(the kernels then run on CPU tensors, slowly, for tests). Per call:

- forward: ``lstmkit.kernels.launch.lstm_forward`` runs the recurrence; ``gates`` (T,B,4H, activated)
  and ``cells`` (T,B,H) are saved in the input dtype, as by the reference backend.
- backward: ``lstm_variant_backward`` yields ``d_pre``, ``d_h0``, ``d_c0`` (and the LayerNorm operands);
  ``dW_hh = Σ_t da_tᵀ h_{t-1}`` is one GEMM here, after the loop (no atomics: bitwise reproducible).

Strategy (``"auto"`` | ``"step"`` | ``"sequence"`` | ``"persistent"``, see ``lstmkit.kernels.launch``): the environment
variable ``LSTMKIT_TRITON_STRATEGY`` sets the initial value, :func:`set_strategy` changes it for the
process. ``proj_size`` is not implemented by these kernels.

Variants (DESIGN §4): ``forward_fn`` / ``backward_fn`` take the optional variant inputs of
:func:`lstmkit.ops.recurrence.recurrence` (absent = vanilla: the kernels' variant flags are constexpr and off);
LayerNorm of the gate pre-activations and of c, zoneout, recurrent dropout and resets run inside the kernels.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from lstmkit.kernels import launch
from lstmkit.ops.recurrence import register_backend
from lstmkit.ops.variants import Normalized, candidate_cells, entering_states

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


def _no_proj(w_hr: Tensor | None) -> None:
    if w_hr is not None:
        raise NotImplementedError("the triton backend does not implement proj_size; use backend='reference'")


def forward_fn(
    pre: Tensor,  # (T, B, 4H) input projection plus both biases; with LayerNorm, LN_x(x W_ihᵀ) + b
    w_hh: Tensor,  # (4H, H), DropConnect already applied
    h0: Tensor,  # (B, H)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None,  # must be None
    lengths: Tensor | None,  # (B,) sorted non-increasing, 1 <= len <= T
    ln_h_weight: Tensor | None = None,  # (4H,)
    ln_c_weight: Tensor | None = None,  # (H,)
    ln_c_bias: Tensor | None = None,  # (H,)
    zoneout_c: Tensor | None = None,  # (T, B, H) 0/1 masks (training) or the rate (eval, may be an expanded view)
    zoneout_h: Tensor | None = None,  # (T, B, H)
    dropout_mask: Tensor | None = None,  # (B, H) values 0 or 1/(1-p)
    resets: Tensor | None = None,  # (T, B) bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The recurrence (vanilla, or :func:`lstmkit.ops.variants.variant_forward` fused into the kernels): returns
    ``y (T,B,H), h_n (B,H), c_n (B,H), gates (T,B,4H), cells (T,B,H)`` (cells: the carried, zoned-out c_t; the output
    sees ĉ_t before zoneout), in ``pre.dtype``.
    Absent variant inputs switch their constexpr flags off: the vanilla kernels are those specialisations."""
    _no_proj(w_hr)
    variant = launch.VariantInputs(ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets)
    return launch.lstm_forward(pre, w_hh, h0, c0, lengths, _strategy, variant)


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
    ln_h_weight=None, ln_c_weight=None, ln_c_bias=None, zoneout_c=None, zoneout_h=None, dropout_mask=None,
    resets=None,  # as forward_fn's
) -> tuple[Tensor, Tensor, Tensor, Tensor, None, Tensor | None, Tensor | None, Tensor | None]:
    """Returns ``d_pre, d_w_hh, d_h0, d_c0, None, d_ln_h_weight, d_ln_c_weight, d_ln_c_bias`` (None for features
    not in use), as :func:`lstmkit.ops.variants.variant_backward`.

    Around the kernels, as large parallel ops: before the loop, the matmul operand ``m ⊙ h~`` for every step
    and, with LN_h, one GEMM that recomputes ``r = (m ⊙ h~) W_hhᵀ`` and its normalisation (as the reference
    does); after it, ``dW_hh = Σ_t d_r_tᵀ (m ⊙ h~_t)`` (one GEMM, no atomics: bitwise reproducible) and the
    LayerNorm gain/bias gradients as reductions."""
    _no_proj(w_hr)
    h_in = entering_states(y, h0, resets)
    h_rec = h_in * dropout_mask if dropout_mask is not None else h_in
    r_hat = r_rstd = None
    if ln_h_weight is not None:
        r_stats = Normalized((h_rec @ w_hh.t()).float())  # the kernels take float32 statistics
        r_hat, r_rstd = r_stats.hat, r_stats.rstd.squeeze(-1)
    variant = launch.VariantInputs(ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets)
    d_pre, d_r, d_c_out, d_h0, d_c0 = launch.lstm_variant_backward(
        grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0, lengths, _strategy, variant, r_hat, r_rstd)
    # steps past a row's length have d_r = 0, so whatever y holds there contributes nothing
    d_w_hh = d_r.reshape(-1, d_r.shape[-1]).t() @ h_rec.reshape(-1, h_rec.shape[-1])
    d_ln_h = d_ln_c = d_ln_c_bias = None
    if ln_h_weight is not None:
        d_ln_h = (d_pre.float() * r_hat).sum((0, 1)).to(ln_h_weight.dtype)
    if ln_c_weight is not None:
        c_new = candidate_cells(gates, cells, c0, resets) if zoneout_c is not None else cells  # ĉ, what LN_c saw
        c_hat = Normalized(c_new.float()).hat
        d_ln_c = (d_c_out.float() * c_hat).sum((0, 1)).to(ln_c_weight.dtype)
        d_ln_c_bias = d_c_out.float().sum((0, 1)).to(ln_c_bias.dtype)
    return d_pre, d_w_hh, d_h0, d_c0, None, d_ln_h, d_ln_c, d_ln_c_bias


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
