"""Step kernels: one launch per timestep, grid over (batch blocks × hidden blocks); any hidden size.

Forward (``lstm_fwd_step_kernel``): a program owns rows ``b`` of a BLOCK_B batch block and hidden units
``j`` of a BLOCK_H block, and computes all four gates for them: four float32 accumulators fed by
``tl.dot`` over K = H tiles of ``h_{t-1}`` and the matching columns of ``W_hhᵀ``, then the cell update in
registers. ``h``/``c`` live in ping-pong state buffers (each program reads all of ``h_{t-1}`` but writes
only its own block of ``h_t``), so a step past a row's length can leave its state unchanged.
Trade-off: W_hh (4H×H) is re-read from L2 every step; that is what makes this work for any H, and what
the persistent/sequence strategies avoid.

Backward (``lstm_bwd_step_kernel``), skewed by one step so that one launch suffices per step without
atomics or grid-wide sync: launch t first finishes step t+1 — ``dh_t = da_{t+1} W_hh`` for its hidden
block, a ``tl.dot`` over K = 4H that needs ``da_{t+1}`` of *all* hidden blocks, which the previous launch
wrote to ``d_pre[t+1]`` — then does the elementwise derivative of step t for its own block and writes
``da_t`` to ``d_pre[t]``. One last launch with ``ELEMENTWISE=False`` yields ``dh_0 = da_0 W_hh``.
Every output element has exactly one writer, so results are bitwise reproducible.

Variants (DESIGN §4) are constexpr flags: resets and the recurrent-dropout mask are applied to the ``h``
tiles entering the matmul, zoneout in the elementwise part (with ZONEOUT_H the ``dh`` carry also holds the
zoneout path ``dL/dh~_{t+1}`` that the next launch adds to its matmul). LayerNorm needs whole rows: with it,
both kernels run with ``ELEMENTWISE=False`` (matmul only) and :mod:`.rows` does the rest of the step.
"""

import triton
import triton.language as tl

from .cell import active_rows, cell_backward, cell_forward, dot, store_gates, store_step, to_output
from .variant import entering_state, fresh_rows, load_keep, load_zoneout, recurrent_grad


@triton.jit(do_not_specialize=["t"])  # one binary for every step (t = 1 or t % 16 == 0 would specialise)
def lstm_fwd_step_kernel(
    pre_ptr,  # (B, 4H) P_t = x_t W_ihᵀ + biases, input dtype
    w_t_ptr,  # (H, 4H) W_hhᵀ, contiguous
    h_prev_ptr,  # (B, H) h state entering step t, input dtype
    c_prev_ptr,  # (B, H) c state entering step t, float32
    h_next_ptr,  # (B, H) h state after step t
    c_next_ptr,  # (B, H) c state after step t, float32
    y_ptr,  # (B, H) output y_t (zero past a row's length)
    gates_ptr,  # (B, 4H) activated gates i, f, g, o, saved for backward
    cells_ptr,  # (B, H) carried c_t in the input dtype, saved for backward
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    r_ptr,  # (B, 4H) float32 output (m ⊙ h~) W_hhᵀ for the row kernel; unused unless not ELEMENTWISE
    z_c_ptr,  # (B, H) zoneout of c at step t; unused unless ZONEOUT_C
    z_h_ptr,  # (B, H) zoneout of h at step t; unused unless ZONEOUT_H
    keep_ptr,  # (B, H) recurrent-dropout mask; unused unless DROPOUT
    resets_ptr,  # (T, B) uint8; unused unless RESETS
    t,  # step index, for the length test
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
    ELEMENTWISE: tl.constexpr = True,  # False: only the matmul, to r_ptr (LayerNorm variants: rows.py does the rest)
    ZONEOUT_C: tl.constexpr = False,
    ZONEOUT_H: tl.constexpr = False,
    DROPOUT: tl.constexpr = False,
    RESETS: tl.constexpr = False,
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    row_ok = rows < B
    mask = row_ok[:, None] & (cols < H)[None, :]
    gate_offs = rows[:, None] * (4 * H) + cols[None, :]
    dt = y_ptr.dtype.element_ty
    fresh = fresh_rows(resets_ptr + t * B, rows, row_ok, RESETS)
    if ELEMENTWISE:
        acc_i = tl.load(pre_ptr + gate_offs, mask=mask, other=0.0).to(tl.float32)
        acc_f = tl.load(pre_ptr + gate_offs + H, mask=mask, other=0.0).to(tl.float32)
        acc_g = tl.load(pre_ptr + gate_offs + 2 * H, mask=mask, other=0.0).to(tl.float32)
        acc_o = tl.load(pre_ptr + gate_offs + 3 * H, mask=mask, other=0.0).to(tl.float32)
    else:
        acc_i = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
        acc_f = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
        acc_g = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
        acc_o = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
    for k0 in range(0, H, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_ok = ks < H
        h_offs = rows[:, None] * H + ks[None, :]
        h_mask = row_ok[:, None] & k_ok[None, :]
        h = tl.load(h_prev_ptr + h_offs, mask=h_mask, other=0.0)
        _, _, h = entering_state(h, h, load_keep(keep_ptr, h_offs, h_mask, DROPOUT), fresh, dt, INTERPRET_BF16,
                                 DROPOUT, RESETS)
        w_offs = ks[:, None] * (4 * H) + cols[None, :]  # (BLOCK_K, BLOCK_H) tile of W_hhᵀ for gate i
        w_mask = k_ok[:, None] & (cols < H)[None, :]
        acc_i = dot(h, tl.load(w_t_ptr + w_offs, mask=w_mask, other=0.0), acc_i, INTERPRET_BF16, PRECISION)
        acc_f = dot(h, tl.load(w_t_ptr + w_offs + H, mask=w_mask, other=0.0), acc_f, INTERPRET_BF16, PRECISION)
        acc_g = dot(h, tl.load(w_t_ptr + w_offs + 2 * H, mask=w_mask, other=0.0), acc_g, INTERPRET_BF16, PRECISION)
        acc_o = dot(h, tl.load(w_t_ptr + w_offs + 3 * H, mask=w_mask, other=0.0), acc_o, INTERPRET_BF16, PRECISION)
    if not ELEMENTWISE:
        store_gates(r_ptr, gate_offs, mask, H, acc_i, acc_f, acc_g, acc_o)
    else:
        state_offs = rows[:, None] * H + cols[None, :]
        h_prev = tl.load(h_prev_ptr + state_offs, mask=mask, other=0.0)
        c_prev = tl.load(c_prev_ptr + state_offs, mask=mask, other=0.0)
        h_in, c_in, _ = entering_state(h_prev, c_prev, c_prev, fresh, dt, INTERPRET_BF16, False, RESETS)
        z_c, z_h = load_zoneout(z_c_ptr, z_h_ptr, state_offs, mask, c_prev, ZONEOUT_C, ZONEOUT_H)
        i, f, g, o, c, h = cell_forward(acc_i, acc_f, acc_g, acc_o, c_in, h_in, z_c, z_h, c_prev, c_prev, mask, H,
                                        False, ZONEOUT_C, ZONEOUT_H)
        active = active_rows(len_ptr, rows, row_ok, t, HAS_LENGTHS)
        store_step(h_next_ptr, c_next_ptr, y_ptr, cells_ptr, gates_ptr, state_offs, gate_offs, mask, active, H,
                   i, f, g, o, c, h, h_prev, c_prev, INTERPRET_BF16)


@triton.jit(do_not_specialize=["t"])  # one binary for every step (t = 1 or t % 16 == 0 would specialise)
def lstm_bwd_step_kernel(
    d_pre_next_ptr,  # (B, 4H) dL/dr_{t+1} (= da_{t+1} unless LN_h: then rows.py's d_r), written by the previous launch
    w_ptr,  # (4H, H) W_hh, contiguous
    dh_ptr,  # (B, H) float32 carry: dL/dh state after step t (exact for rows inactive at t+1), in/out
    dc_ptr,  # (B, H) float32 carry: dL/dc state after step t, in/out (becomes dL/dc_{t-1})
    grad_y_ptr,  # (B, H) dL/dy_t; unused unless ELEMENTWISE
    gates_ptr,  # (B, 4H) activated gates at t
    cells_ptr,  # (B, H) c_t
    c_prev_ptr,  # (B, H) c_{t-1} (cells[t-1], or c0 at t = 0)
    d_pre_ptr,  # (B, 4H) output da_t (zero past a row's length)
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    z_c_ptr,  # (B, H) zoneout of c at step t; unused unless ZONEOUT_C and ELEMENTWISE
    z_h_ptr,  # (B, H) zoneout of h at step t; unused unless ZONEOUT_H and ELEMENTWISE
    keep_ptr,  # (B, H) recurrent-dropout mask; unused unless DROPOUT
    resets_ptr,  # (T, B) uint8; unused unless RESETS
    t,  # step index (-1 for the closing matmul-only launch)
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    HAS_NEXT: tl.constexpr,  # step t+1 exists: fold its da into dh by the matmul
    ELEMENTWISE: tl.constexpr,  # step t exists: compute its da (never with LayerNorm: rows.py does it)
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
    ZONEOUT_C: tl.constexpr = False,
    ZONEOUT_H: tl.constexpr = False,  # dh_ptr then carries dL/dh~_{t+1} through zoneout from the previous launch
    DROPOUT: tl.constexpr = False,
    RESETS: tl.constexpr = False,
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    row_ok = rows < B
    mask = row_ok[:, None] & (cols < H)[None, :]
    state_offs = rows[:, None] * H + cols[None, :]
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), t + 2, tl.int32)
    dh = tl.load(dh_ptr + state_offs, mask=mask, other=0.0)
    if HAS_NEXT:
        acc = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
        for k0 in range(0, 4 * H, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)
            k_ok = ks < 4 * H
            da = tl.load(
                d_pre_next_ptr + rows[:, None] * (4 * H) + ks[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0
            )
            w = tl.load(w_ptr + ks[:, None] * H + cols[None, :], mask=k_ok[:, None] & (cols < H)[None, :], other=0.0)
            acc = dot(da, w, acc, INTERPRET_BF16, PRECISION)
        acc = recurrent_grad(acc, dh, load_keep(keep_ptr, state_offs, mask, DROPOUT),
                             fresh_rows(resets_ptr + (t + 1) * B, rows, row_ok, RESETS), DROPOUT, ZONEOUT_H, RESETS)
        dh = tl.where((t + 1 < lens)[:, None], acc, dh)
    tl.store(dh_ptr + state_offs, dh, mask=mask)
    if ELEMENTWISE:
        active = (t < lens)[:, None]
        gate_offs = rows[:, None] * (4 * H) + cols[None, :]
        i = tl.load(gates_ptr + gate_offs, mask=mask, other=0.0).to(tl.float32)
        f = tl.load(gates_ptr + gate_offs + H, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(gates_ptr + gate_offs + 2 * H, mask=mask, other=0.0).to(tl.float32)
        o = tl.load(gates_ptr + gate_offs + 3 * H, mask=mask, other=0.0).to(tl.float32)
        c = tl.load(cells_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
        c_prev = tl.load(c_prev_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
        fresh = fresh_rows(resets_ptr + t * B, rows, row_ok, RESETS)
        if RESETS:
            c_prev = tl.where(fresh, 0.0, c_prev)
        dc = tl.load(dc_ptr + state_offs, mask=mask, other=0.0)
        dh_t = dh + tl.load(grad_y_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
        z_c, z_h = load_zoneout(z_c_ptr, z_h_ptr, state_offs, mask, c, ZONEOUT_C, ZONEOUT_H)
        da_i, da_f, da_g, da_o, dc_prev, dh_zoned, _ = cell_backward(
            dh_t, dc, i, f, g, o, c, c_prev, z_c, z_h, c, c, mask, H, False, ZONEOUT_C, ZONEOUT_H)
        if RESETS:
            dc_prev = tl.where(fresh, 0.0, dc_prev)
        dt = d_pre_ptr.dtype.element_ty
        tl.store(dc_ptr + state_offs, tl.where(active, dc_prev, dc), mask=mask)
        if ZONEOUT_H:  # the next launch adds dL/dh~_t through zoneout to its matmul
            tl.store(dh_ptr + state_offs, tl.where(active, dh_zoned, dh), mask=mask)
        store_gates(
            d_pre_ptr, gate_offs, mask, H, to_output(da_i, active, dt, INTERPRET_BF16),
            to_output(da_f, active, dt, INTERPRET_BF16), to_output(da_g, active, dt, INTERPRET_BF16),
            to_output(da_o, active, dt, INTERPRET_BF16),
        )
