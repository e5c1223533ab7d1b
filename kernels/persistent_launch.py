"""Launchers of the persistent kernels (:mod:`.persistent` forward, :mod:`.persistent_bwd` backward;
``strategy="persistent"``): tiles, residency and resource checks, and the one-step-per-launch mode that runs their
per-step bodies under TRITON_INTERPRET=1."""

from __future__ import annotations

import torch
import triton

from . import launch
from .launch import KernelConfig, Refusal, alloc, check_index_range, dot_options, lengths_arg
from .persistent import lstm_fwd_persistent_kernel
from .persistent_bwd import lstm_bwd_persistent_kernel

PERSISTENT_BLOCK_H = 16  # hidden units per program: the MMA's M is 4 × 16 = 64, wgmma's minimum
PERSISTENT_BLOCK_B = 16  # batch rows per program: the MMA's N


def persistent_config(hidden: int) -> KernelConfig:
    """Tiles of the persistent kernels, forward and backward (``block_k``: H padded to a power of two, the K of their
    MMAs). One warpgroup up to K = 512; two from K = 1024, where the forward's (64, 1024) W_hh slice, which passes
    through registers on its way to shared memory, spilled with four warps (24 bytes at H = 768 on sm_90; 8 warps:
    175 registers, no spill)."""
    block_k = max(16, triton.next_power_of_2(hidden))
    return KernelConfig(PERSISTENT_BLOCK_B, PERSISTENT_BLOCK_H, block_k, 4 if block_k <= 512 else 8)


def gates_at_once(hidden: int) -> bool:
    """Whether the backward kernel loads the four gate chunks of ``da_{t+1}`` before its first MMA (one L2 round trip
    per step instead of four): up to K = 512, where their staging doubles its shared memory to 64 / 128 KB; at
    K = 1024 that would be 256 KB, over sm_90's 227 KB (docs/KERNELS.md), so they are staged one at a time."""
    return persistent_config(hidden).block_k <= 512


def check_resident(kernel, grid, args: tuple, kwargs: dict, device: torch.device) -> None:
    """A persistent kernel spins until the other programs of its batch block finish a step: all of them must be
    resident at once (one per SM), else it would never end; raises ``Refusal`` when that is not assured."""
    if launch.interpreting():  # looked up per call (tests replace it), as launch.shared_memory
        raise Refusal("TRITON_INTERPRET=1 runs programs one after another, so the spin-wait between them would never "
                      "end (persistent_launch.persistent_forward/persistent_backward(..., one_step=True) run their "
                      "per-step bodies instead)")
    programs = grid[0] * grid[1]
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    if programs > sms:
        raise Refusal(f"{programs} programs (batch blocks x hidden blocks) must be resident at once, more than this "
                      f"GPU's {sms} SMs")
    needed = launch.shared_memory(kernel, grid, args, kwargs, device)
    if needed is not None and needed[0] > needed[1]:
        raise Refusal(f"{kernel.__name__} needs {needed[0]} bytes of shared memory per block, more than this GPU's "
                      f"{needed[1]} (shared_memory_per_block_optin)")


def persistent_forward(pre, w_hh, h0, c0, lengths=None, *, one_step: bool = False) -> tuple[torch.Tensor, ...]:
    """The persistent kernel (:mod:`.persistent`, vanilla LSTM): ``lstm_forward``'s outputs. ``one_step`` launches
    its per-step body once per step instead (no waiting between programs: runs under TRITON_INTERPRET=1)."""
    steps, batch, four_h = pre.shape
    hidden = four_h // 4
    dtype, device = pre.dtype, pre.device
    cfg = persistent_config(hidden)
    lens, has_lengths = lengths_arg(lengths, device)
    hs = alloc(steps + 1, batch, hidden, dtype=dtype, device=device)  # h0, then y_0 .. y_{T-1}
    hs[0] = h0
    gates = alloc(steps, batch, four_h, dtype=dtype, device=device)
    cells = alloc(steps, batch, hidden, dtype=dtype, device=device)
    h_state, c_state = h0.to(dtype, copy=True).contiguous(), c0.to(torch.float32, copy=True).contiguous()
    grid = (triton.cdiv(batch, cfg.block_b), triton.cdiv(hidden, cfg.block_h))
    count = torch.zeros(grid[0], dtype=torch.int32, device=device)
    kwargs = dict(H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h, BLOCK_K=cfg.block_k,
                  num_warps=cfg.num_warps, PERSISTENT=not one_step, **dot_options(dtype))
    args = (pre.contiguous(), w_hh.contiguous(), hs, gates, cells, h_state, c_state, lens, count)
    if one_step:
        for t in range(steps):
            lstm_fwd_persistent_kernel[grid](*args, t, steps, batch, **kwargs)
    else:
        check_index_range(pre)
        check_resident(lstm_fwd_persistent_kernel, grid, (*args, 0, steps, batch), kwargs, device)
        lstm_fwd_persistent_kernel[grid](*args, 0, steps, batch, **kwargs)
    return hs[1:], h_state, c_state.to(dtype), gates, cells


def persistent_backward(grad_y, grad_h_n, grad_c_n, gates, cells, w_hh, c0, lengths=None, *,
                        one_step: bool = False) -> tuple[torch.Tensor, ...]:
    """The persistent backward kernel (:mod:`.persistent_bwd`, vanilla LSTM): ``d_pre (T,B,4H), d_h0, d_c0 (B,H)``
    in ``gates.dtype``, as ``launch.lstm_backward``. ``one_step`` launches its per-step body once per step and once
    more for ``d_h0`` (no waiting between programs: runs under TRITON_INTERPRET=1)."""
    steps, batch, four_h = gates.shape
    hidden = four_h // 4
    dtype, device = gates.dtype, gates.device
    cfg = persistent_config(hidden)
    lens, has_lengths = lengths_arg(lengths, device)
    d_pre = alloc(steps, batch, four_h, dtype=dtype, device=device)
    dh_state = grad_h_n.to(torch.float32, copy=True).contiguous()  # carried dL/dh; d_h0 at the end
    dc_state = grad_c_n.to(torch.float32, copy=True).contiguous()
    grid = (triton.cdiv(batch, cfg.block_b), triton.cdiv(hidden, cfg.block_h))
    count = torch.zeros(grid[0], dtype=torch.int32, device=device)
    kwargs = dict(H=hidden, HAS_LENGTHS=has_lengths, BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h, BLOCK_K=cfg.block_k,
                  num_warps=cfg.num_warps, PERSISTENT=not one_step, GATES_AT_ONCE=gates_at_once(hidden),
                  **dot_options(dtype))
    args = (grad_y.contiguous(), gates.contiguous(), cells.contiguous(), c0.contiguous(), w_hh.contiguous(), d_pre,
            dh_state, dc_state, lens, count)
    if one_step:
        for s in range(steps + 1):  # step T-1-s; s = T: d_h0 only
            lstm_bwd_persistent_kernel[grid](*args, s, steps, batch, **kwargs)
    else:
        check_index_range(gates)
        check_resident(lstm_bwd_persistent_kernel, grid, (*args, 0, steps, batch), kwargs, device)
        lstm_bwd_persistent_kernel[grid](*args, 0, steps, batch, **kwargs)
    return d_pre, dh_state.to(dtype), dc_state.to(dtype)
