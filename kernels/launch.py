"""Launchers for the LSTM recurrence kernels: strategy and block-size choice, buffers, grids.

``lstm_forward`` / ``lstm_backward`` take and return torch tensors; everything around the recurrence
(the input projection, the weight gradients) is left to the caller as large GEMMs. Strategies:

- ``"sequence"``: one launch per sequence (:mod:`.sequence`); used by ``"auto"`` when W_hh fits on chip
  (``SEQUENCE_MAX_HIDDEN``, per pass: forward and backward may pick differently, as both read the same
  saved tensors).
- ``"step"``: one launch per step (:mod:`.step`), any hidden size. With LayerNorm (``VariantInputs``), two per
  step: the matmul in :mod:`.step`, the rest in a row kernel (:mod:`.rows`). The launch sequences are built in
  :mod:`.steps` and, on CUDA, captured once per shape in a CUDA graph and replayed (:mod:`.graphs`).
- ``"persistent"``: opt-in, vanilla only; one launch per pass with every program resident (:mod:`.persistent`,
  :mod:`.persistent_bwd`, launched by :mod:`.persistent_launch`), refused where that cannot be assured.

Under ``"auto"``, a sequence kernel that cannot run here (a tensor beyond int32 indexing, or more shared memory
per block than the device's ``shared_memory_per_block_optin``) gives way to the step strategy; asked for by name,
it raises a ``ValueError`` saying why. float64 inputs are computed in float32, explicitly (cast in, results cast
back): the kernels accumulate in float32 whatever the operands.

Batch is never copied to a padded tensor: the batch tile is at least 16 rows (the smallest ``tl.dot``
tile, so tensor cores engage) and masked loads/stores hide the padding. Precision: ``tl.dot``
accumulates in float32 and ``c`` is kept in float32; fp32 operands use TF32 on GPU when
``torch.backends.cudnn.allow_tf32`` is on (torch's switch for RNNs), else ``input_precision="tf32x3"``
(three TF32 products: fp32-level accuracy on tensor cores; "ieee" FMA dots crash Triton 3.9's LLVM
SLP vectorizer in the sm_90 backward sequence kernel and need twice the registers).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch
import triton

from . import graphs
from . import steps as steps_mod
from .sequence import lstm_bwd_sequence_kernel, lstm_fwd_sequence_kernel

STRATEGIES = ("auto", "step", "sequence", "persistent")
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
    """``"sequence"`` where W_hh fits on chip for this pass (or when asked), else ``"step"``. ``"persistent"`` is
    opt-in (never chosen by ``"auto"``), forward and backward."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {list(STRATEGIES)}, got {strategy!r}")
    if strategy == "persistent":
        return strategy
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


def sequence_prefetch(dtype: torch.dtype) -> bool:
    """Whether the forward sequence kernel prefetches ``P_{t+1}``: with 16-bit operands; in fp32 the four extra
    tiles spilled 24 bytes at H = 64 on sm_90 (168 registers; docs/KERNELS.md), so P_t is loaded in its step."""
    return dtype != torch.float32


def dot_options(dtype: torch.dtype) -> dict:
    """The INTERPRET_BF16 / PRECISION constexprs for operands of ``dtype`` (see ``cell.dot``); PRECISION only
    matters for fp32 operands (16-bit ones always run on tensor cores with float32 accumulation)."""
    tf32 = dtype == torch.float32 and torch.backends.cudnn.allow_tf32 and not interpreting()
    return {"INTERPRET_BF16": dtype == torch.bfloat16 and interpreting(), "PRECISION": "tf32" if tf32 else "tf32x3"}


def alloc(*shape, dtype, device) -> torch.Tensor:
    if POISON_OUTPUTS:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def lengths_arg(lengths: torch.Tensor | None, device) -> tuple[torch.Tensor, bool]:
    if lengths is None:
        return torch.empty(1, dtype=torch.int32, device=device), False
    return lengths.to(device=device, dtype=torch.int32).contiguous(), True


class Refusal(ValueError):
    """A strategy cannot run this call on this device (index range, on-chip resources); under ``"auto"`` the
    launcher then uses the step strategy instead."""


INDEX_LIMIT = 2**31  # the sequence kernels index whole (T, B, ·) tensors with int32 offsets


def check_index_range(*tensors: torch.Tensor) -> None:
    for x in tensors:
        if x.numel() >= INDEX_LIMIT:
            raise Refusal(f"a tensor of {x.numel()} elements exceeds the sequence kernel's int32 indexing")


def shared_memory(kernel, grid, args: tuple, kwargs: dict, device: torch.device) -> tuple[int, int] | None:
    """``(bytes the compiled kernel needs per block, the device's opt-in limit per block)`` on CUDA, None elsewhere
    (the interpreter has no limit). The limit is ``shared_memory_per_block_optin`` (~99 KB on consumer GPUs, 163 KB
    on A100, 227 KB on H100); compiling here is no extra cost, the launch that follows reuses the binary."""
    if device.type != "cuda" or interpreting():
        return None
    compiled = kernel.warmup(*args, grid=grid, **kwargs)
    props = torch.cuda.get_device_properties(device)
    limit = getattr(props, "shared_memory_per_block_optin", props.shared_memory_per_block)
    return int(compiled.metadata.shared), int(limit)


def _launch_sequence_kernel(kernel, grid, args: tuple, kwargs: dict, device: torch.device, *big: torch.Tensor) -> None:
    """Launch a sequence kernel, or raise :class:`Refusal` if it cannot run here."""
    check_index_range(*big)
    needed = shared_memory(kernel, grid, args, kwargs, device)
    if needed is not None and needed[0] > needed[1]:
        raise Refusal(f"the sequence kernel needs {needed[0]} bytes of shared memory per block, more than this GPU's "
                      f"{needed[1]} (shared_memory_per_block_optin)")
    kernel[grid](*args, **kwargs)


def row_config(hidden: int) -> KernelConfig:
    """Tiles of the row kernels (LayerNorm steps of the step strategy): whole rows, at most 2048 elements a tile
    (larger ones spill in the fp32 backward), 8 warps from 1024 elements up."""
    pow2_h = max(16, triton.next_power_of_2(hidden))
    block_b = max(1, min(16, 2048 // pow2_h))
    return KernelConfig(block_b, pow2_h, 0, 4 if block_b * pow2_h < 1024 else 8)


def _plan(steps: int, batch: int, hidden: int, dtype: torch.dtype, has_lengths: bool,
          variant: VariantInputs) -> steps_mod.Plan:
    cfg, rows = kernel_config("step", batch, hidden, dtype, variant.layer_norm), row_config(hidden)
    dots = dot_options(dtype)
    return steps_mod.Plan(steps, batch, hidden, cfg.block_b, cfg.block_h, cfg.block_k, cfg.num_warps, cfg.num_stages,
                          rows.block_b, rows.block_h, rows.num_warps, has_lengths, tuple(variant.flags().items()),
                          dots["INTERPRET_BF16"], dots["PRECISION"], POISON_OUTPUTS)


def _run_steps(name: str, plan: steps_mod.Plan, fn, tensors: tuple) -> tuple:
    """``fn(plan, *tensors)``, from a CUDA graph where :mod:`.graphs` allows it, else eagerly."""
    if not graphs.enabled(tensors[0].device, interpreting()):
        return fn(plan, *tensors)
    key = (name, plan, str(tensors[0].device), tuple((t.shape, t.stride(), t.dtype) for t in tensors))
    return graphs.CACHE.run(key, functools.partial(fn, plan), tensors)


def _in_float32(fn):
    """float64 calls run in float32, explicitly (the kernels accumulate in float32 whatever their operands, and a
    float64 ``tl.dot`` with a float32 accumulator is not valid on GPUs); results are cast back to float64."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not any(isinstance(a, torch.Tensor) and a.dtype == torch.float64 for a in args):
            return fn(*args, **kwargs)
        cast = [a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        return tuple(None if out is None else out.double() for out in fn(*cast, **kwargs))
    return wrapper


def _refused(strategy: str, why: Refusal) -> None:
    """Under ``"auto"`` a refusal means "use the step strategy"; a strategy asked for by name raises."""
    if strategy != "auto":
        raise ValueError(f"strategy={strategy!r} cannot run this call: {why}; use 'step' or 'auto'") from None


def _vanilla_only(flags: dict) -> None:
    if any(flags.values()):
        raise ValueError("strategy='persistent' runs the vanilla LSTM only, not "
                         f"{[k for k, v in flags.items() if v]}; use 'step', 'sequence' or 'auto'")


@_in_float32
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
    and ``cells (T,B,H)`` (the carried c_t); all in ``pre.dtype`` (float64 is computed in float32)."""
    steps, batch, four_h = pre.shape
    hidden = four_h // 4
    dtype, device = pre.dtype, pre.device
    chosen = choose_strategy(hidden, dtype, strategy, device=device, layer_norm=variant.layer_norm)
    pre, w_hh, h0, c0 = pre.contiguous(), w_hh.contiguous(), h0.contiguous(), c0.contiguous()
    lens, has_lengths = lengths_arg(lengths, device)
    flags, ptrs = variant.flags(), variant.pointers(pre)
    if chosen == "persistent":
        _vanilla_only(flags)
        from . import persistent_launch  # it builds on this module's helpers

        try:
            return persistent_launch.persistent_forward(pre, w_hh, h0, c0, lengths)
        except Refusal as why:
            _refused(strategy, why)
    if chosen == "sequence":
        cfg = kernel_config("sequence", batch, hidden, dtype, variant.layer_norm)
        y = alloc(steps, batch, hidden, dtype=dtype, device=device)
        gates = alloc(steps, batch, four_h, dtype=dtype, device=device)
        cells = alloc(steps, batch, hidden, dtype=dtype, device=device)
        h_n = alloc(batch, hidden, dtype=dtype, device=device)
        c_n = alloc(batch, hidden, dtype=dtype, device=device)
        kwargs = dict(**ptrs, T=steps, B=batch, H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b,
                      BLOCK_H=cfg.block_h, num_warps=cfg.num_warps, num_stages=cfg.num_stages, **dot_options(dtype),
                      PREFETCH=sequence_prefetch(dtype), **flags)
        try:
            _launch_sequence_kernel(lstm_fwd_sequence_kernel, (triton.cdiv(batch, cfg.block_b),),
                                    (pre, w_hh, h0, c0, y, gates, cells, h_n, c_n, lens), kwargs, device, pre)
            return y, h_n, c_n, gates, cells
        except Refusal as why:
            _refused(strategy, why)
    plan = _plan(steps, batch, hidden, dtype, has_lengths, variant)
    tensors = (pre, w_hh, h0, c0, lens, *(ptrs[k] for k in steps_mod.VARIANT_POINTERS))
    return _run_steps("forward", plan, steps_mod.forward, tensors)


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


@_in_float32
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
    operand of the caller's dW_hh GEMM, ``d_c_out (T,B,H)`` = dL/dLN_c(ĉ_t) (None without LN_c), ``d_h0``, ``d_c0``;
    all in ``gates.dtype`` (float64 is computed in float32)."""
    steps, batch, four_h = gates.shape
    hidden = four_h // 4
    dtype, device = gates.dtype, gates.device
    chosen = choose_strategy(hidden, dtype, strategy, device=device, backward=True, layer_norm=variant.layer_norm)
    grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0 = (
        x.contiguous() for x in (grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0))
    lens, has_lengths = lengths_arg(lengths, device)
    flags, ptrs = variant.flags(), variant.pointers(gates)
    dummy = ptrs["keep_ptr"].new_empty(1)
    r_hat = r_hat.float().contiguous() if flags["LN_H"] else dummy.float()
    r_rstd = r_rstd.float().contiguous() if flags["LN_H"] else dummy.float()
    if chosen == "persistent":
        _vanilla_only(flags)
        from . import persistent_launch

        try:
            d_pre, d_h0, d_c0 = persistent_launch.persistent_backward(grad_y, grad_h_n, grad_c_n, gates, cells, w_hh,
                                                                      c0, lengths)
            return d_pre, d_pre, None, d_h0, d_c0
        except Refusal as why:
            _refused(strategy, why)
    if chosen == "sequence":
        cfg = kernel_config("sequence", batch, hidden, dtype, variant.layer_norm)
        d_pre = alloc(steps, batch, four_h, dtype=dtype, device=device)
        d_r = alloc(steps, batch, four_h, dtype=dtype, device=device) if flags["LN_H"] else d_pre
        d_c_out = alloc(steps, batch, hidden, dtype=dtype, device=device) if flags["LN_C"] else None
        d_h0 = alloc(batch, hidden, dtype=dtype, device=device)
        d_c0 = alloc(batch, hidden, dtype=dtype, device=device)
        kwargs = dict(ln_h_ptr=ptrs["ln_h_ptr"], r_hat_ptr=r_hat, r_rstd_ptr=r_rstd, d_r_ptr=d_r,
                      ln_c_w_ptr=ptrs["ln_c_w_ptr"], ln_c_b_ptr=ptrs["ln_c_b_ptr"],
                      d_c_out_ptr=dummy if d_c_out is None else d_c_out, z_c_ptr=ptrs["z_c_ptr"],
                      z_h_ptr=ptrs["z_h_ptr"], keep_ptr=ptrs["keep_ptr"], resets_ptr=ptrs["resets_ptr"], T=steps,
                      B=batch, H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h,
                      num_warps=cfg.num_warps, num_stages=cfg.num_stages, **dot_options(dtype), **flags)
        try:
            _launch_sequence_kernel(lstm_bwd_sequence_kernel, (triton.cdiv(batch, cfg.block_b),),
                                    (grad_y, grad_h_n, grad_c_n, gates, cells, c0, w_hh, d_pre, d_h0, d_c0, lens),
                                    kwargs, device, gates)
            return d_pre, d_r, d_c_out, d_h0, d_c0
        except Refusal as why:
            _refused(strategy, why)
    plan = _plan(steps, batch, hidden, dtype, has_lengths, variant)
    tensors = (grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0, lens, r_hat, r_rstd,
               *(ptrs[k] for k in steps_mod.VARIANT_POINTERS))
    return _run_steps("backward", plan, steps_mod.backward, tensors)
