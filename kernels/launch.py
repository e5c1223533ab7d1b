"""Launchers for the LSTM recurrence kernels: strategy and block-size choice, buffers, grids.

``lstm_forward`` / ``lstm_backward`` take and return torch tensors; everything around the recurrence
(the input projection, the weight gradients) is left to the caller as large GEMMs. Strategies:

- ``"sequence"``: one launch per sequence (:mod:`.sequence`); used by ``"auto"`` when W_hh fits on chip
  (``SEQUENCE_MAX_HIDDEN``, per pass: forward and backward may pick differently, as both read the same
  saved tensors).
- ``"step"``: one launch per step (:mod:`.step`), any hidden size; capture it in a CUDA graph on GPU. With
  LayerNorm (``VariantInputs``), two per step: the matmul in :mod:`.step`, the rest in a row kernel (:mod:`.rows`).

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

from .rows import lstm_bwd_row_kernel, lstm_fwd_row_kernel
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
# With LayerNorm the backward sequence kernel also holds the LN_h gains and reads r̂: its shared memory passes the
# per-block limit one size earlier (docs/KERNELS.md, variant table).
SEQUENCE_MAX_HIDDEN_LAYER_NORM = {
    "16bit": {8: (128, 64), 9: (128, 64)},
    "tf32": {8: (64, 32), 9: (64, 64)},
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
    num_stages: int = 3  # software-pipelining depth of the K loop (triton's default on CUDA)


@dataclass(frozen=True)
class VariantInputs:
    """The optional inputs of the LSTM variants (DESIGN §4); ``None`` switches a feature off. Each present one
    sets a constexpr flag, so the vanilla specialisations compile exactly as before."""

    ln_h_weight: torch.Tensor | None = None  # (4H,) LN_h gain
    ln_c_weight: torch.Tensor | None = None  # (H,) LN_c gain
    ln_c_bias: torch.Tensor | None = None  # (H,) LN_c bias (required with ln_c_weight)
    zoneout_c: torch.Tensor | None = None  # (T, B, H): 1 keeps c~ (training) or the rate (eval, may be expanded)
    zoneout_h: torch.Tensor | None = None  # (T, B, H)
    dropout_mask: torch.Tensor | None = None  # (B, H), values 0 or 1/(1-p)
    resets: torch.Tensor | None = None  # (T, B) bool: zero the state entering step t

    def flags(self) -> dict:
        return {"LN_H": self.ln_h_weight is not None, "LN_C": self.ln_c_weight is not None,
                "ZONEOUT_C": self.zoneout_c is not None, "ZONEOUT_H": self.zoneout_h is not None,
                "DROPOUT": self.dropout_mask is not None, "RESETS": self.resets is not None}

    def pointers(self, like: torch.Tensor) -> dict:
        """Kernel arguments: contiguous tensors (masks materialised, resets as uint8), a dummy where absent."""
        dummy = like.new_empty(1)
        out = {"ln_h_ptr": self.ln_h_weight, "ln_c_w_ptr": self.ln_c_weight, "ln_c_b_ptr": self.ln_c_bias,
               "z_c_ptr": self.zoneout_c, "z_h_ptr": self.zoneout_h, "keep_ptr": self.dropout_mask}
        out = {k: dummy if v is None else v.to(like.dtype).contiguous() for k, v in out.items()}
        out["resets_ptr"] = (torch.empty(1, dtype=torch.uint8, device=like.device) if self.resets is None
                             else self.resets.to(torch.uint8).contiguous())
        return out

    @property
    def layer_norm(self) -> bool:
        return self.ln_h_weight is not None or self.ln_c_weight is not None


NO_VARIANT = VariantInputs()


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")


def _arch_major(device: torch.device | None) -> int:
    if device is not None and device.type == "cuda":
        return min(9, torch.cuda.get_device_capability(device)[0])
    return 9  # interpreter: no limit applies, decide as on an H100


def sequence_max_hidden(dtype: torch.dtype, arch_major: int, backward: bool, layer_norm: bool = False) -> int:
    precision = "16bit" if dtype != torch.float32 else "tf32" if torch.backends.cudnn.allow_tf32 else "tf32x3"
    table = SEQUENCE_MAX_HIDDEN_LAYER_NORM if layer_norm else SEQUENCE_MAX_HIDDEN
    return table[precision][max(8, arch_major)][int(backward)]


def choose_strategy(
    hidden: int,
    dtype: torch.dtype,
    strategy: str = "auto",
    *,
    device: torch.device | None = None,
    backward: bool = False,
    layer_norm: bool = False,
) -> str:
    """``"sequence"`` where W_hh fits on chip for this pass (or when asked), else ``"step"``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {list(STRATEGIES)}, got {strategy!r}")
    limit = sequence_max_hidden(dtype, _arch_major(device), backward, layer_norm)
    if strategy == "auto":
        return "sequence" if hidden <= limit else "step"
    if strategy == "sequence" and hidden > limit and not interpreting():
        raise ValueError(
            f"strategy='sequence': hidden_size={hidden} exceeds {limit}, the largest whose W_hh fits on chip "
            f"for {dtype} {'backward' if backward else 'forward'} on this GPU; use 'step' or 'auto'"
        )
    return strategy


def kernel_config(strategy: str, batch: int, hidden: int, dtype: torch.dtype, layer_norm: bool = False) -> KernelConfig:
    """Tile sizes the launcher uses; ``scripts/kernel_report.py`` compiles exactly these. With LayerNorm the step
    kernels run matmul-only (``ELEMENTWISE=False``) and pipeline the K loop 2 deep: 3 stages spilled 64 bytes in the
    bf16 forward at H = 1024 on sm_90 (docs/KERNELS.md, variant table)."""
    pow2_h = max(16, triton.next_power_of_2(hidden))
    if strategy == "sequence":
        return KernelConfig(16, pow2_h, 0, 2 if pow2_h <= 32 else 4 if pow2_h <= 64 else 8)
    block_b = min(64, max(16, triton.next_power_of_2(batch)))
    # half an H100's SMs busy at least: a 16-wide hidden tile when 32-wide ones would leave SMs idle
    block_h = 32 if triton.cdiv(batch, block_b) * triton.cdiv(hidden, 32) >= 66 else 16
    block_k = 32 if dtype == torch.float32 else 64
    return KernelConfig(block_b, min(block_h, pow2_h), min(block_k, pow2_h), 4, 2 if layer_norm else 3)


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


def row_config(hidden: int) -> KernelConfig:
    """Tiles of the row kernels (LayerNorm steps of the step strategy): whole rows, at most 2048 elements a tile
    (larger ones spill in the fp32 backward), 8 warps from 1024 elements up."""
    pow2_h = max(16, triton.next_power_of_2(hidden))
    block_b = max(1, min(16, 2048 // pow2_h))
    return KernelConfig(block_b, pow2_h, 0, 4 if block_b * pow2_h < 1024 else 8)


def _per_step(tensor: torch.Tensor, present: bool, t: int) -> torch.Tensor:
    return tensor[t] if present else tensor


def lstm_forward(
    pre: torch.Tensor,  # (T, B, 4H) input projection plus biases
    w_hh: torch.Tensor,  # (4H, H)
    h0: torch.Tensor,  # (B, H)
    c0: torch.Tensor,  # (B, H)
    lengths: torch.Tensor | None = None,  # (B,) 1 <= len <= T, any order
    strategy: str = "auto",
    variant: VariantInputs = NO_VARIANT,
) -> tuple[torch.Tensor, ...]:
    """Returns ``y (T,B,H), h_n (B,H), c_n (B,H)`` and, saved for backward, ``gates (T,B,4H)`` (activated)
    and ``cells (T,B,H)`` (the carried c_t); all in ``pre.dtype``."""
    steps, batch, four_h = pre.shape
    hidden = four_h // 4
    dtype, device = pre.dtype, pre.device
    strategy = choose_strategy(hidden, dtype, strategy, device=device, layer_norm=variant.layer_norm)
    cfg = kernel_config(strategy, batch, hidden, dtype, variant.layer_norm)
    pre, w_hh = pre.contiguous(), w_hh.contiguous()
    lens, has_lengths = _lengths_arg(lengths, device)
    flags, ptrs = variant.flags(), variant.pointers(pre)
    y = _alloc(steps, batch, hidden, dtype=dtype, device=device)
    gates = _alloc(steps, batch, four_h, dtype=dtype, device=device)
    cells = _alloc(steps, batch, hidden, dtype=dtype, device=device)
    common = dict(H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h,
                  num_warps=cfg.num_warps, num_stages=cfg.num_stages, **dot_options(dtype))
    if strategy == "sequence":
        _check_index_range(pre)
        h_n = _alloc(batch, hidden, dtype=dtype, device=device)
        c_n = _alloc(batch, hidden, dtype=dtype, device=device)
        lstm_fwd_sequence_kernel[(triton.cdiv(batch, cfg.block_b),)](
            pre, w_hh, h0.contiguous(), c0.contiguous(), y, gates, cells, h_n, c_n, lens, **ptrs, T=steps, B=batch,
            **common, **flags,
        )
        return y, h_n, c_n, gates, cells

    w_t = w_hh.t().contiguous()  # (H, 4H): the step kernel reads W_hhᵀ tiles row-contiguously
    h_state = _alloc(2, batch, hidden, dtype=dtype, device=device)  # ping-pong: read t % 2, write (t+1) % 2
    c_state = _alloc(2, batch, hidden, dtype=torch.float32, device=device)
    h_state[0] = h0
    c_state[0] = c0
    grid = (triton.cdiv(batch, cfg.block_b), triton.cdiv(hidden, cfg.block_h))
    # LayerNorm needs whole rows: the step kernel then only does the matmul, and a row kernel the rest
    r = _alloc(batch, four_h, dtype=torch.float32, device=device) if variant.layer_norm else ptrs["keep_ptr"]
    rows = row_config(hidden)
    for t in range(steps):
        cur, nxt = t % 2, (t + 1) % 2
        z_c, z_h = _per_step(ptrs["z_c_ptr"], flags["ZONEOUT_C"], t), _per_step(ptrs["z_h_ptr"], flags["ZONEOUT_H"], t)
        state = (h_state[cur], c_state[cur], h_state[nxt], c_state[nxt], y[t], gates[t], cells[t], lens)
        lstm_fwd_step_kernel[grid](
            pre[t], w_t, *state, r, z_c, z_h, ptrs["keep_ptr"], ptrs["resets_ptr"], t, batch, BLOCK_K=cfg.block_k,
            ELEMENTWISE=not variant.layer_norm, ZONEOUT_C=flags["ZONEOUT_C"] and not variant.layer_norm,
            ZONEOUT_H=flags["ZONEOUT_H"] and not variant.layer_norm, DROPOUT=flags["DROPOUT"],
            RESETS=flags["RESETS"], **common,
        )
        if variant.layer_norm:
            lstm_fwd_row_kernel[(triton.cdiv(batch, rows.block_b),)](
                pre[t], r, *state, ptrs["ln_h_ptr"], ptrs["ln_c_w_ptr"], ptrs["ln_c_b_ptr"], z_c, z_h,
                ptrs["resets_ptr"], t, batch, H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=rows.block_b,
                BLOCK_H=rows.block_h, INTERPRET_BF16=common["INTERPRET_BF16"], num_warps=rows.num_warps,
                **{k: v for k, v in flags.items() if k != "DROPOUT"},
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
    d_pre, _, _, d_h0, d_c0 = lstm_variant_backward(grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0, lengths,
                                                    strategy)
    return d_pre, d_h0, d_c0


def lstm_variant_backward(
    grad_y: torch.Tensor,  # (T, B, H)
    grad_h_n: torch.Tensor,  # (B, H)
    grad_c_n: torch.Tensor,  # (B, H)
    gates: torch.Tensor,  # (T, B, 4H) from lstm_forward
    cells: torch.Tensor,  # (T, B, H) from lstm_forward
    w_hh: torch.Tensor,  # (4H, H)
    c0: torch.Tensor,  # (B, H)
    lengths: torch.Tensor | None = None,  # (B,)
    strategy: str = "auto",
    variant: VariantInputs = NO_VARIANT,
    r_hat: torch.Tensor | None = None,  # (T, B, 4H) float32 normalised (m ⊙ h~) W_hhᵀ; with LN_h only
    r_rstd: torch.Tensor | None = None,  # (T, B) float32 its 1/std; with LN_h only
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Returns ``d_pre (T,B,4H)``, ``d_r (T,B,4H)`` = dL/d((m ⊙ h~) W_hhᵀ) (``d_pre`` itself without LN_h), the
    operand of the caller's dW_hh GEMM, ``d_c_out (T,B,H)`` = dL/dLN_c(c_t) (None without LN_c), ``d_h0``, ``d_c0``;
    all in ``gates.dtype``."""
    steps, batch, four_h = gates.shape
    hidden = four_h // 4
    dtype, device = gates.dtype, gates.device
    strategy = choose_strategy(hidden, dtype, strategy, device=device, backward=True, layer_norm=variant.layer_norm)
    cfg = kernel_config(strategy, batch, hidden, dtype, variant.layer_norm)
    grad_y, gates, cells, w_hh, c0 = (x.contiguous() for x in (grad_y, gates, cells, w_hh, c0))
    lens, has_lengths = _lengths_arg(lengths, device)
    flags, ptrs = variant.flags(), variant.pointers(gates)
    d_pre = _alloc(steps, batch, four_h, dtype=dtype, device=device)
    d_r = _alloc(steps, batch, four_h, dtype=dtype, device=device) if flags["LN_H"] else d_pre
    d_c_out = _alloc(steps, batch, hidden, dtype=dtype, device=device) if flags["LN_C"] else None
    dummy = ptrs["keep_ptr"].new_empty(1)
    ln_h = dict(r_hat_ptr=r_hat.contiguous() if flags["LN_H"] else dummy,
                r_rstd_ptr=r_rstd.contiguous() if flags["LN_H"] else dummy.float())
    common = dict(H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h,
                  num_warps=cfg.num_warps, num_stages=cfg.num_stages, **dot_options(dtype))
    if strategy == "sequence":
        _check_index_range(gates)
        d_h0 = _alloc(batch, hidden, dtype=dtype, device=device)
        d_c0 = _alloc(batch, hidden, dtype=dtype, device=device)
        lstm_bwd_sequence_kernel[(triton.cdiv(batch, cfg.block_b),)](
            grad_y, grad_h_n.contiguous(), grad_c_n.contiguous(), gates, cells, c0, w_hh, d_pre, d_h0, d_c0, lens,
            ln_h_ptr=ptrs["ln_h_ptr"], **ln_h, d_r_ptr=d_r, ln_c_w_ptr=ptrs["ln_c_w_ptr"],
            ln_c_b_ptr=ptrs["ln_c_b_ptr"], d_c_out_ptr=dummy if d_c_out is None else d_c_out,
            z_c_ptr=ptrs["z_c_ptr"], z_h_ptr=ptrs["z_h_ptr"], keep_ptr=ptrs["keep_ptr"],
            resets_ptr=ptrs["resets_ptr"], T=steps, B=batch, **common, **flags,
        )
        return d_pre, d_r, d_c_out, d_h0, d_c0

    dh = grad_h_n.to(torch.float32).contiguous().clone()  # carried dL/dh, updated in place by each launch
    dc = grad_c_n.to(torch.float32).contiguous().clone()
    grid = (triton.cdiv(batch, cfg.block_b), triton.cdiv(hidden, cfg.block_h))
    rows = row_config(hidden)
    matmul_flags = dict(ZONEOUT_H=flags["ZONEOUT_H"], DROPOUT=flags["DROPOUT"], RESETS=flags["RESETS"])
    elementwise_flags = dict(ZONEOUT_C=flags["ZONEOUT_C"]) if not variant.layer_norm else {}
    for t in range(steps - 1, -1, -1):
        has_next = t + 1 < steps
        z_c, z_h = _per_step(ptrs["z_c_ptr"], flags["ZONEOUT_C"], t), _per_step(ptrs["z_h_ptr"], flags["ZONEOUT_H"], t)
        step_args = (grad_y[t], gates[t], cells[t], cells[t - 1] if t > 0 else c0, d_pre[t], lens)
        if has_next or not variant.layer_norm:  # LayerNorm: the matmul launch only (nothing to fold at t = T-1)
            lstm_bwd_step_kernel[grid](
                d_r[t + 1] if has_next else d_r[t], w_hh, dh, dc, *step_args, z_c, z_h, ptrs["keep_ptr"],
                ptrs["resets_ptr"], t, batch, HAS_NEXT=has_next, ELEMENTWISE=not variant.layer_norm,
                BLOCK_K=cfg.block_k, **matmul_flags, **elementwise_flags, **common,
            )
        if variant.layer_norm:
            lstm_bwd_row_kernel[(triton.cdiv(batch, rows.block_b),)](
                dh, dc, *step_args[:5], lens, ptrs["ln_h_ptr"], ln_h["r_hat_ptr"][t] if flags["LN_H"] else dummy,
                ln_h["r_rstd_ptr"][t] if flags["LN_H"] else dummy, d_r[t], ptrs["ln_c_w_ptr"], ptrs["ln_c_b_ptr"],
                d_c_out[t] if flags["LN_C"] else dummy, z_c, z_h, ptrs["resets_ptr"], t, batch, H=hidden,
                HAS_LENGTHS=has_lengths, BLOCK_B=rows.block_b, BLOCK_H=rows.block_h,
                INTERPRET_BF16=common["INTERPRET_BF16"], num_warps=rows.num_warps,
                **{k: v for k, v in flags.items() if k != "DROPOUT"},
            )
    # closing launch: dh_0 = dL/dr_0 W_hh (every row is active at step 0); the elementwise arguments are unused
    lstm_bwd_step_kernel[grid](
        d_r[0], w_hh, dh, dc, grad_y[0], gates[0], cells[0], c0, d_pre[0], lens, ptrs["z_c_ptr"], ptrs["z_h_ptr"],
        ptrs["keep_ptr"], ptrs["resets_ptr"], -1, batch, HAS_NEXT=True, ELEMENTWISE=False, BLOCK_K=cfg.block_k,
        **matmul_flags, **common,
    )
    return d_pre, d_r, d_c_out, dh.to(dtype), dc.to(dtype)
