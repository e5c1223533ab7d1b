"""Launchers for the LSTM recurrence kernels: strategy and block-size choice, buffers, grids.

``lstm_forward`` / ``lstm_backward`` take and return torch tensors; everything around the recurrence
(the input projection, the weight gradients) is left to the caller as large GEMMs. Strategies:

- ``"sequence"``: one launch per sequence (:mod:`.sequence`); used by ``"auto"`` when W_hh fits on chip
  (``SEQUENCE_MAX_HIDDEN``, per pass: forward and backward may pick differently, as both read the same
  saved tensors).
- ``"step"``: one launch per step (:mod:`.step`), any hidden size; capture it in a CUDA graph on GPU.

Batch is never copied to a padded tensor: the batch tile is at least 16 rows (the smallest ``tl.dot``
tile, so tensor cores engage) and masked loads/stores hide the padding. Precision: ``tl.dot``
accumulates in float32 and ``c`` is kept in float32; fp32 operands use TF32 on GPU when
``torch.backends.cudnn.allow_tf32`` is on (torch's switch for RNNs), else ``input_precision="tf32x3"``
(three TF32 products: fp32-level accuracy on tensor cores; "ieee" FMA dots crash Triton 3.9's LLVM
SLP vectorizer in the sm_90 backward sequence kernel and need twice the registers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import triton

from .sequence import lstm_bwd_sequence_kernel, lstm_fwd_sequence_kernel
from .step import lstm_bwd_step_kernel, lstm_fwd_step_kernel

STRATEGIES = ("auto", "step", "sequence")
# Largest H whose four H×H gate tiles of W_hh the sequence kernels keep on chip with no spills and within
# the per-block shared memory, as (forward, backward), by operand precision and arch major (8: A100-class,
# 9: H100-class); measured with scripts/kernel_report.py (docs/KERNELS.md). "auto" uses the step kernels above.
SEQUENCE_MAX_HIDDEN = {
    "16bit": {8: (128, 64), 9: (128, 128)},
    "tf32": {8: (64, 64), 9: (64, 64)},
    "tf32x3": {8: (32, 32), 9: (32, 32)},
}
# Tests set this to fill every output with NaN before a launch, so an element no kernel writes fails.
POISON_OUTPUTS = False


@dataclass(frozen=True)
class KernelConfig:
    block_b: int  # batch rows per program (>= 16: the tensor-core tile)
    block_h: int  # hidden units per program (sequence kernels: next power of two >= H)
    block_k: int  # reduction tile of the step kernels' tl.dot (0 for sequence kernels)
    num_warps: int


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")


def _arch_major(device: torch.device | None) -> int:
    if device is not None and device.type == "cuda":
        return min(9, torch.cuda.get_device_capability(device)[0])
    return 9  # interpreter: no limit applies, decide as on an H100


def sequence_max_hidden(dtype: torch.dtype, arch_major: int, backward: bool) -> int:
    precision = "16bit" if dtype != torch.float32 else "tf32" if torch.backends.cudnn.allow_tf32 else "tf32x3"
    return SEQUENCE_MAX_HIDDEN[precision][max(8, arch_major)][int(backward)]


def choose_strategy(
    hidden: int,
    dtype: torch.dtype,
    strategy: str = "auto",
    *,
    device: torch.device | None = None,
    backward: bool = False,
) -> str:
    """``"sequence"`` where W_hh fits on chip for this pass (or when asked), else ``"step"``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {list(STRATEGIES)}, got {strategy!r}")
    limit = sequence_max_hidden(dtype, _arch_major(device), backward)
    if strategy == "auto":
        return "sequence" if hidden <= limit else "step"
    if strategy == "sequence" and hidden > limit and not interpreting():
        raise ValueError(
            f"strategy='sequence': hidden_size={hidden} exceeds {limit}, the largest whose W_hh fits on chip "
            f"for {dtype} {'backward' if backward else 'forward'} on this GPU; use 'step' or 'auto'"
        )
    return strategy


def kernel_config(strategy: str, batch: int, hidden: int, dtype: torch.dtype) -> KernelConfig:
    """Tile sizes the launcher uses; ``scripts/kernel_report.py`` compiles exactly these."""
    pow2_h = max(16, triton.next_power_of_2(hidden))
    if strategy == "sequence":
        return KernelConfig(16, pow2_h, 0, 2 if pow2_h <= 32 else 4 if pow2_h <= 64 else 8)
    block_b = min(64, max(16, triton.next_power_of_2(batch)))
    # half an H100's SMs busy at least: a 16-wide hidden tile when 32-wide ones would leave SMs idle
    block_h = 32 if triton.cdiv(batch, block_b) * triton.cdiv(hidden, 32) >= 66 else 16
    block_k = 32 if dtype == torch.float32 else 64
    return KernelConfig(block_b, min(block_h, pow2_h), min(block_k, pow2_h), 4)


def dot_options(dtype: torch.dtype) -> dict:
    """The INTERPRET_BF16 / PRECISION constexprs for operands of ``dtype`` (see ``cell.dot``); PRECISION only
    matters for fp32 operands (16-bit ones always run on tensor cores with float32 accumulation)."""
    tf32 = dtype == torch.float32 and torch.backends.cudnn.allow_tf32 and not interpreting()
    return {"INTERPRET_BF16": dtype == torch.bfloat16 and interpreting(), "PRECISION": "tf32" if tf32 else "tf32x3"}


def _alloc(*shape, dtype, device) -> torch.Tensor:
    if POISON_OUTPUTS:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def _lengths_arg(lengths: torch.Tensor | None, device) -> tuple[torch.Tensor, bool]:
    if lengths is None:
        return torch.empty(1, dtype=torch.int32, device=device), False
    return lengths.to(device=device, dtype=torch.int32).contiguous(), True


def _check_index_range(*tensors: torch.Tensor) -> None:
    # the sequence kernels index whole (T, B, ·) tensors with int32 offsets
    for x in tensors:
        if x.numel() >= 2**31:
            raise ValueError(
                f"sequence kernel: a tensor of {x.numel()} elements exceeds int32 indexing; use strategy='step'"
            )


def lstm_forward(
    pre: torch.Tensor,  # (T, B, 4H) input projection plus biases
    w_hh: torch.Tensor,  # (4H, H)
    h0: torch.Tensor,  # (B, H)
    c0: torch.Tensor,  # (B, H)
    lengths: torch.Tensor | None = None,  # (B,) 1 <= len <= T, any order
    strategy: str = "auto",
) -> tuple[torch.Tensor, ...]:
    """Returns ``y (T,B,H), h_n (B,H), c_n (B,H)`` and, saved for backward, ``gates (T,B,4H)`` (activated)
    and ``cells (T,B,H)``; all in ``pre.dtype``."""
    steps, batch, four_h = pre.shape
    hidden = four_h // 4
    dtype, device = pre.dtype, pre.device
    strategy = choose_strategy(hidden, dtype, strategy, device=device)
    cfg = kernel_config(strategy, batch, hidden, dtype)
    pre, w_hh = pre.contiguous(), w_hh.contiguous()
    lens, has_lengths = _lengths_arg(lengths, device)
    y = _alloc(steps, batch, hidden, dtype=dtype, device=device)
    gates = _alloc(steps, batch, four_h, dtype=dtype, device=device)
    cells = _alloc(steps, batch, hidden, dtype=dtype, device=device)
    common = dict(H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h,
                  num_warps=cfg.num_warps, **dot_options(dtype))
    if strategy == "sequence":
        _check_index_range(pre)
        h_n = _alloc(batch, hidden, dtype=dtype, device=device)
        c_n = _alloc(batch, hidden, dtype=dtype, device=device)
        lstm_fwd_sequence_kernel[(triton.cdiv(batch, cfg.block_b),)](
            pre, w_hh, h0.contiguous(), c0.contiguous(), y, gates, cells, h_n, c_n, lens, steps, batch, **common
        )
        return y, h_n, c_n, gates, cells

    w_t = w_hh.t().contiguous()  # (H, 4H): the step kernel reads W_hhᵀ tiles row-contiguously
    h_state = _alloc(2, batch, hidden, dtype=dtype, device=device)  # ping-pong: read t % 2, write (t+1) % 2
    c_state = _alloc(2, batch, hidden, dtype=torch.float32, device=device)
    h_state[0] = h0
    c_state[0] = c0
    grid = (triton.cdiv(batch, cfg.block_b), triton.cdiv(hidden, cfg.block_h))
    for t in range(steps):
        cur, nxt = t % 2, (t + 1) % 2
        lstm_fwd_step_kernel[grid](
            pre[t], w_t, h_state[cur], c_state[cur], h_state[nxt], c_state[nxt], y[t], gates[t], cells[t], lens,
            t, batch, BLOCK_K=cfg.block_k, **common,
        )
    return y, h_state[steps % 2], c_state[steps % 2].to(dtype), gates, cells


def lstm_backward(
    grad_y: torch.Tensor,  # (T, B, H)
    grad_h_n: torch.Tensor,  # (B, H)
    grad_c_n: torch.Tensor,  # (B, H)
    gates: torch.Tensor,  # (T, B, 4H) from lstm_forward
    cells: torch.Tensor,  # (T, B, H) from lstm_forward
    w_hh: torch.Tensor,  # (4H, H)
    c0: torch.Tensor,  # (B, H)
    lengths: torch.Tensor | None = None,  # (B,)
    strategy: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns ``d_pre (T,B,4H), d_h0 (B,H), d_c0 (B,H)`` in ``gates.dtype``; dW_hh is the caller's GEMM."""
    steps, batch, four_h = gates.shape
    hidden = four_h // 4
    dtype, device = gates.dtype, gates.device
    strategy = choose_strategy(hidden, dtype, strategy, device=device, backward=True)
    cfg = kernel_config(strategy, batch, hidden, dtype)
    grad_y, gates, cells, w_hh, c0 = (x.contiguous() for x in (grad_y, gates, cells, w_hh, c0))
    lens, has_lengths = _lengths_arg(lengths, device)
    d_pre = _alloc(steps, batch, four_h, dtype=dtype, device=device)
    common = dict(H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h,
                  num_warps=cfg.num_warps, **dot_options(dtype))
    if strategy == "sequence":
        _check_index_range(gates)
        d_h0 = _alloc(batch, hidden, dtype=dtype, device=device)
        d_c0 = _alloc(batch, hidden, dtype=dtype, device=device)
        lstm_bwd_sequence_kernel[(triton.cdiv(batch, cfg.block_b),)](
            grad_y, grad_h_n.contiguous(), grad_c_n.contiguous(), gates, cells, c0, w_hh, d_pre, d_h0, d_c0, lens,
            steps, batch, **common,
        )
        return d_pre, d_h0, d_c0

    dh = grad_h_n.to(torch.float32).contiguous().clone()  # carried dL/dh, updated in place by each launch
    dc = grad_c_n.to(torch.float32).contiguous().clone()
    grid = (triton.cdiv(batch, cfg.block_b), triton.cdiv(hidden, cfg.block_h))
    for t in range(steps - 1, -1, -1):
        has_next = t + 1 < steps
        lstm_bwd_step_kernel[grid](
            d_pre[t + 1] if has_next else d_pre[t], w_hh, dh, dc, grad_y[t], gates[t], cells[t],
            cells[t - 1] if t > 0 else c0, d_pre[t], lens, t, batch,
            HAS_NEXT=has_next, ELEMENTWISE=True, BLOCK_K=cfg.block_k, **common,
        )
    # closing launch: dh_0 = da_0 W_hh (every row is active at step 0); the elementwise arguments are unused
    lstm_bwd_step_kernel[grid](
        d_pre[0], w_hh, dh, dc, grad_y[0], gates[0], cells[0], c0, d_pre[0], lens, -1, batch,
        HAS_NEXT=True, ELEMENTWISE=False, BLOCK_K=cfg.block_k, **common,
    )
    return d_pre, dh.to(dtype), dc.to(dtype)
