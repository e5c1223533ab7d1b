"""The step strategy's launch sequences: one launch per time step (:mod:`.step`), two with LayerNorm (the matmul in
:mod:`.step`, the rest of the step in a row kernel, :mod:`.rows`), and backward's closing launch.

:func:`forward` and :func:`backward` take and return tensors only (the rest is a hashable :class:`Plan`), so that
:mod:`.graphs` can capture a whole call in one CUDA graph. Each builds every launch's grid and argument list before
the first launch runs, then issues them back to back: no per-step Python but the launch itself (under
TRITON_INTERPRET=1 and without capture this same sequence runs eagerly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import triton

from .rows import lstm_bwd_row_kernel, lstm_fwd_row_kernel
from .step import lstm_bwd_step_kernel, lstm_fwd_step_kernel

# the variant tensors, in the order forward/backward take them (VariantInputs.pointers' keys)
VARIANT_POINTERS = ("ln_h_ptr", "ln_c_w_ptr", "ln_c_b_ptr", "z_c_ptr", "z_h_ptr", "keep_ptr", "resets_ptr")


@dataclass(frozen=True)
class Plan:
    """Everything but the tensors that a step-strategy launch sequence depends on (part of the graph key)."""

    steps: int
    batch: int
    hidden: int
    block_b: int  # step kernels' tiles (launch.kernel_config)
    block_h: int
    block_k: int
    num_warps: int
    num_stages: int
    row_block_b: int  # row kernels' tiles (launch.row_config)
    row_block_h: int
    row_num_warps: int
    has_lengths: bool
    flags: tuple[tuple[str, bool], ...]  # VariantInputs.flags() items
    interpret_bf16: bool
    precision: str
    poison: bool  # outputs filled with NaN before the launches (tests)

    @property
    def flag(self) -> dict:
        return dict(self.flags)

    @property
    def layer_norm(self) -> bool:
        return self.flag["LN_H"] or self.flag["LN_C"]

    def common(self) -> dict:
        return dict(H=self.hidden, HAS_LENGTHS=self.has_lengths, BLOCK_B=self.block_b, BLOCK_H=self.block_h,
                    BLOCK_K=self.block_k, INTERPRET_BF16=self.interpret_bf16, PRECISION=self.precision,
                    num_warps=self.num_warps, num_stages=self.num_stages)

    def row_common(self) -> dict:
        flags = {k: v for k, v in self.flags if k != "DROPOUT"}
        return dict(H=self.hidden, HAS_LENGTHS=self.has_lengths, BLOCK_B=self.row_block_b, BLOCK_H=self.row_block_h,
                    INTERPRET_BF16=self.interpret_bf16, num_warps=self.row_num_warps, **flags)

    def grid(self) -> tuple[int, int]:
        return triton.cdiv(self.batch, self.block_b), triton.cdiv(self.hidden, self.block_h)

    def row_grid(self) -> tuple[int]:
        return (triton.cdiv(self.batch, self.row_block_b),)

    def alloc(self, *shape, dtype, device) -> torch.Tensor:
        if self.poison:
            return torch.full(shape, float("nan"), dtype=dtype, device=device)
        return torch.empty(shape, dtype=dtype, device=device)


Launch = tuple  # (kernel, grid, args, kwargs)


def run(launches: list[Launch]) -> None:
    for kernel, grid, args, kwargs in launches:
        kernel[grid](*args, **kwargs)


def _per_step(tensor: torch.Tensor, present: bool) -> Callable[[int], torch.Tensor]:
    return (lambda t: tensor[t]) if present else (lambda t: tensor)


def forward(plan: Plan, pre, w_hh, h0, c0, lens, *variant: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``pre (T,B,4H), w_hh (4H,H), h0, c0 (B,H), lens (B,) int32`` and the :data:`VARIANT_POINTERS` tensors ->
    ``y, h_n, c_n, gates, cells`` (see ``launch.lstm_forward``)."""
    ptrs, flag = dict(zip(VARIANT_POINTERS, variant)), plan.flag
    steps, batch, hidden = plan.steps, plan.batch, plan.hidden
    dtype, device = pre.dtype, pre.device
    y = plan.alloc(steps, batch, hidden, dtype=dtype, device=device)
    gates = plan.alloc(steps, batch, 4 * hidden, dtype=dtype, device=device)
    cells = plan.alloc(steps, batch, hidden, dtype=dtype, device=device)
    w_t = w_hh.t().contiguous()  # (H, 4H): the step kernel reads W_hhᵀ tiles row-contiguously
    h_state = plan.alloc(2, batch, hidden, dtype=dtype, device=device)  # ping-pong: read t % 2, write (t+1) % 2
    c_state = plan.alloc(2, batch, hidden, dtype=torch.float32, device=device)
    h_state[0] = h0
    c_state[0] = c0
    layer_norm = plan.layer_norm
    # LayerNorm needs whole rows: the step kernel then only does the matmul, and a row kernel the rest
    r = plan.alloc(batch, 4 * hidden, dtype=torch.float32, device=device) if layer_norm else ptrs["keep_ptr"]
    z_c, z_h = _per_step(ptrs["z_c_ptr"], flag["ZONEOUT_C"]), _per_step(ptrs["z_h_ptr"], flag["ZONEOUT_H"])
    step_kw = dict(ELEMENTWISE=not layer_norm, ZONEOUT_C=flag["ZONEOUT_C"] and not layer_norm,
                   ZONEOUT_H=flag["ZONEOUT_H"] and not layer_norm, DROPOUT=flag["DROPOUT"], RESETS=flag["RESETS"],
                   **plan.common())
    row_kw, grid, row_grid = plan.row_common(), plan.grid(), plan.row_grid()
    launches = []
    for t in range(steps):
        state = (h_state[t % 2], c_state[t % 2], h_state[(t + 1) % 2], c_state[(t + 1) % 2], y[t], gates[t],
                 cells[t], lens)
        launches.append((lstm_fwd_step_kernel, grid, (pre[t], w_t, *state, r, z_c(t), z_h(t), ptrs["keep_ptr"],
                                                       ptrs["resets_ptr"], t, batch), step_kw))
        if layer_norm:
            launches.append((lstm_fwd_row_kernel, row_grid, (
                pre[t], r, *state, ptrs["ln_h_ptr"], ptrs["ln_c_w_ptr"], ptrs["ln_c_b_ptr"], z_c(t), z_h(t),
                ptrs["resets_ptr"], t, batch), row_kw))
    run(launches)
    return y, h_state[steps % 2], c_state[steps % 2].to(dtype), gates, cells


def backward(plan: Plan, grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0, lens, r_hat, r_rstd,
             *variant: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    """The gradients of :func:`forward`'s outputs, the saved ``gates``/``cells``, ``r_hat (T,B,4H)``/``r_rstd (T,B)``
    (float32, LN_h only; dummies otherwise) and the :data:`VARIANT_POINTERS` tensors -> ``d_pre, d_r, d_c_out,
    d_h0, d_c0`` (see ``launch.lstm_variant_backward``; ``d_r`` is ``d_pre`` without LN_h, ``d_c_out`` None
    without LN_c)."""
    ptrs, flag = dict(zip(VARIANT_POINTERS, variant)), plan.flag
    steps, batch, hidden = plan.steps, plan.batch, plan.hidden
    dtype, device = gates.dtype, gates.device
    d_pre = plan.alloc(steps, batch, 4 * hidden, dtype=dtype, device=device)
    d_r = plan.alloc(steps, batch, 4 * hidden, dtype=dtype, device=device) if flag["LN_H"] else d_pre
    d_c_out = plan.alloc(steps, batch, hidden, dtype=dtype, device=device) if flag["LN_C"] else None
    dh = grad_h_n.to(torch.float32).clone()  # carried dL/dh, updated in place by each launch
    dc = grad_c_n.to(torch.float32).clone()
    layer_norm, dummy = plan.layer_norm, ptrs["keep_ptr"]
    z_c, z_h = _per_step(ptrs["z_c_ptr"], flag["ZONEOUT_C"]), _per_step(ptrs["z_h_ptr"], flag["ZONEOUT_H"])
    step_kw = dict(ZONEOUT_H=flag["ZONEOUT_H"], DROPOUT=flag["DROPOUT"], RESETS=flag["RESETS"], **plan.common())
    if not layer_norm:
        step_kw["ZONEOUT_C"] = flag["ZONEOUT_C"]
    row_kw, grid, row_grid = plan.row_common(), plan.grid(), plan.row_grid()
    launches = []
    for t in range(steps - 1, -1, -1):
        has_next = t + 1 < steps
        step_args = (grad_y[t], gates[t], cells[t], cells[t - 1] if t > 0 else c0, d_pre[t], lens)
        if has_next or not layer_norm:  # LayerNorm: the matmul launch only (nothing to fold at t = T-1)
            launches.append((lstm_bwd_step_kernel, grid, (
                d_r[t + 1] if has_next else d_r[t], w_hh, dh, dc, *step_args, z_c(t), z_h(t), ptrs["keep_ptr"],
                ptrs["resets_ptr"], t, batch), dict(HAS_NEXT=has_next, ELEMENTWISE=not layer_norm, **step_kw)))
        if layer_norm:
            launches.append((lstm_bwd_row_kernel, row_grid, (
                dh, dc, *step_args[:5], lens, ptrs["ln_h_ptr"], r_hat[t] if flag["LN_H"] else dummy,
                r_rstd[t] if flag["LN_H"] else dummy, d_r[t], ptrs["ln_c_w_ptr"], ptrs["ln_c_b_ptr"],
                d_c_out[t] if flag["LN_C"] else dummy, z_c(t), z_h(t), ptrs["resets_ptr"], t, batch), row_kw))
    # closing launch: dh_0 = dL/dr_0 W_hh (every row is active at step 0); the elementwise arguments are unused
    close_kw = {k: v for k, v in step_kw.items() if k != "ZONEOUT_C"}
    launches.append((lstm_bwd_step_kernel, grid, (
        d_r[0], w_hh, dh, dc, grad_y[0], gates[0], cells[0], c0, d_pre[0], lens, ptrs["z_c_ptr"], ptrs["z_h_ptr"],
        ptrs["keep_ptr"], ptrs["resets_ptr"], -1, batch), dict(HAS_NEXT=True, ELEMENTWISE=False, **close_kw)))
    run(launches)
    return d_pre, d_r, d_c_out, dh.to(dtype), dc.to(dtype)
