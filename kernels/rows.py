"""Row kernels: the LayerNorm half of a step of the step strategy (DESIGN §4 variants), grid over batch blocks.

LN_h normalises each row over all 4H gate pre-activations and LN_c over all H cells, but a step-kernel program
owns only a hidden block. So a LayerNorm step is two launches (no grid-wide barrier, no atomics):

1. ``lstm_fwd_step_kernel`` with ``ELEMENTWISE=False``: the parallel matmul ``r = (m ⊙ h~) W_hhᵀ`` over
   (batch blocks × hidden blocks), written to a float32 (B, 4H) scratch row;
2. ``lstm_fwd_row_kernel``: a program owns BLOCK_B whole rows (BLOCK_H = next power of two >= H), normalises
   ``r``, and does the cell, LN_c, zoneout and the stores of the step.

Backward mirrors it: ``lstm_bwd_step_kernel`` with ``ELEMENTWISE=False`` folds ``dL/dr_{t+1} W_hh`` into the dh
carry, then ``lstm_bwd_row_kernel`` does step t's derivative with both LayerNorm backwards and writes ``d_pre``,
``d_r`` (the dW_hh GEMM's operand) and ``dL/dLN_c(c)`` (reduced into the LN_c parameter gradients).
Cost per step over the single-launch vanilla step: one more launch and a (B, 4H) float32 round trip through
L2 (write + read, 32·B·H bytes), plus the row reductions; the matmul itself is unchanged.
"""

import triton
import triton.language as tl

from .cell import active_rows, cell_backward, cell_forward, row_tile, store_gates, store_step, to_output
from .variant import (
    add_layer_norm,
    entering_state,
    fresh_rows,
    layer_norm_h_backward,
    load_gains,
    load_ln_c,
    load_zoneout,
)


@triton.jit
def _load_gates(ptr, offs, mask, H: tl.constexpr):
    """The four (BLOCK_B, BLOCK_H) gate tiles i, f, g, o of a (·, 4H) row, in float32."""
    i = tl.load(ptr + offs, mask=mask, other=0.0).to(tl.float32)
    f = tl.load(ptr + offs + H, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(ptr + offs + 2 * H, mask=mask, other=0.0).to(tl.float32)
    o = tl.load(ptr + offs + 3 * H, mask=mask, other=0.0).to(tl.float32)
    return i, f, g, o


@triton.jit(do_not_specialize=["t"])  # one binary for every step (t = 1 or t % 16 == 0 would specialise)
def lstm_fwd_row_kernel(
    pre_ptr,  # (B, 4H) P_t, input dtype
    r_ptr,  # (B, 4H) float32 (m ⊙ h~) W_hhᵀ from the matmul launch
    h_prev_ptr,  # (B, H) h state entering step t, input dtype
    c_prev_ptr,  # (B, H) c state entering step t, float32
    h_next_ptr,  # (B, H) h state after step t
    c_next_ptr,  # (B, H) c state after step t, float32
    y_ptr,  # (B, H) output y_t (zero past a row's length)
    gates_ptr,  # (B, 4H) activated gates, saved for backward
    cells_ptr,  # (B, H) carried c_t in the input dtype, saved for backward
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    ln_h_ptr,  # (4H,) LN_h gain; unused unless LN_H
    ln_c_w_ptr,  # (H,) LN_c gain; unused unless LN_C
    ln_c_b_ptr,  # (H,) LN_c bias; unused unless LN_C
    z_c_ptr,  # (B, H) zoneout of c at step t; unused unless ZONEOUT_C
    z_h_ptr,  # (B, H) zoneout of h at step t; unused unless ZONEOUT_H
    resets_ptr,  # (T, B) uint8; unused unless RESETS
    t,  # step index
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,  # next power of two >= H
    INTERPRET_BF16: tl.constexpr,
    LN_H: tl.constexpr,
    LN_C: tl.constexpr,
    ZONEOUT_C: tl.constexpr,
    ZONEOUT_H: tl.constexpr,
    RESETS: tl.constexpr,
):
    rows, cols, row_ok, col_ok, mask, state_offs, gate_offs = row_tile(B, H, BLOCK_B, BLOCK_H)
    dt = y_ptr.dtype.element_ty
    r_i, r_f, r_g, r_o = _load_gates(r_ptr, gate_offs, mask, H)
    p_i, p_f, p_g, p_o = _load_gates(pre_ptr, gate_offs, mask, H)
    if LN_H:
        gain_i, gain_f, gain_g, gain_o = load_gains(ln_h_ptr, cols, H, LN_H)
        a_i, a_f, a_g, a_o = add_layer_norm(p_i, p_f, p_g, p_o, col_ok, H, gain_i, gain_f, gain_g, gain_o,
                                            r_i, r_f, r_g, r_o)
    else:
        a_i, a_f, a_g, a_o = p_i + r_i, p_f + r_f, p_g + r_g, p_o + r_o
    h_prev = tl.load(h_prev_ptr + state_offs, mask=mask, other=0.0)
    c_prev = tl.load(c_prev_ptr + state_offs, mask=mask, other=0.0)
    fresh = fresh_rows(resets_ptr + t * B, rows, row_ok, RESETS)
    h_in, c_in, _ = entering_state(h_prev, c_prev, c_prev, fresh, dt, INTERPRET_BF16, False, RESETS)
    z_c, z_h = load_zoneout(z_c_ptr, z_h_ptr, state_offs, mask, c_prev, ZONEOUT_C, ZONEOUT_H)
    ln_w, ln_b = load_ln_c(ln_c_w_ptr, ln_c_b_ptr, cols, H, LN_C)
    i, f, g, o, c, h = cell_forward(a_i, a_f, a_g, a_o, c_in, h_in, z_c, z_h, ln_w, ln_b, col_ok, H, LN_C,
                                    ZONEOUT_C, ZONEOUT_H)
    active = active_rows(len_ptr, rows, row_ok, t, HAS_LENGTHS)
    store_step(h_next_ptr, c_next_ptr, y_ptr, cells_ptr, gates_ptr, state_offs, gate_offs, mask, active, H,
               i, f, g, o, c, h, h_prev, c_prev, INTERPRET_BF16)


@triton.jit(do_not_specialize=["t"])  # one binary for every step (t = 1 or t % 16 == 0 would specialise)
def lstm_bwd_row_kernel(
    dh_ptr,  # (B, H) float32 carry: dL/dh state after step t (the matmul launch folded step t+1 in), in/out
    dc_ptr,  # (B, H) float32 carry: dL/dc state after step t, in/out (becomes dL/dc_{t-1})
    grad_y_ptr,  # (B, H) dL/dy_t
    gates_ptr,  # (B, 4H) activated gates at t
    cells_ptr,  # (B, H) c_t
    c_prev_ptr,  # (B, H) c_{t-1} (cells[t-1], or c0 at t = 0)
    d_pre_ptr,  # (B, 4H) output da_t (zero past a row's length)
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    ln_h_ptr,  # (4H,) LN_h gain; unused unless LN_H
    r_hat_ptr,  # (B, 4H) float32 normalised (m ⊙ h~) W_hhᵀ at t; unused unless LN_H
    r_rstd_ptr,  # (B,) float32 its 1/std; unused unless LN_H
    d_r_ptr,  # (B, 4H) output dL/dr_t (input dtype); unused unless LN_H
    ln_c_w_ptr,  # (H,) LN_c gain; unused unless LN_C
    ln_c_b_ptr,  # (H,) LN_c bias; unused unless LN_C
    d_c_out_ptr,  # (B, H) output dL/dLN_c(c_t); unused unless LN_C
    z_c_ptr,  # (B, H) zoneout of c at step t; unused unless ZONEOUT_C
    z_h_ptr,  # (B, H) zoneout of h at step t; unused unless ZONEOUT_H
    resets_ptr,  # (T, B) uint8; unused unless RESETS
    t,  # step index
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,  # next power of two >= H
    INTERPRET_BF16: tl.constexpr,
    LN_H: tl.constexpr,
    LN_C: tl.constexpr,
    ZONEOUT_C: tl.constexpr,
    ZONEOUT_H: tl.constexpr,
    RESETS: tl.constexpr,
):
    rows, cols, row_ok, col_ok, mask, state_offs, gate_offs = row_tile(B, H, BLOCK_B, BLOCK_H)
    active = active_rows(len_ptr, rows, row_ok, t, HAS_LENGTHS)
    i, f, g, o = _load_gates(gates_ptr, gate_offs, mask, H)
    c = tl.load(cells_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    c_prev = tl.load(c_prev_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    fresh = fresh_rows(resets_ptr + t * B, rows, row_ok, RESETS)
    if RESETS:
        c_prev = tl.where(fresh, 0.0, c_prev)
    dh = tl.load(dh_ptr + state_offs, mask=mask, other=0.0)
    dc = tl.load(dc_ptr + state_offs, mask=mask, other=0.0)
    dh_t = dh + tl.load(grad_y_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    z_c, z_h = load_zoneout(z_c_ptr, z_h_ptr, state_offs, mask, c, ZONEOUT_C, ZONEOUT_H)
    ln_w, ln_b = load_ln_c(ln_c_w_ptr, ln_c_b_ptr, cols, H, LN_C)
    da_i, da_f, da_g, da_o, dc_prev, dh_zoned, d_c_out = cell_backward(
        dh_t, dc, i, f, g, o, c, c_prev, z_c, z_h, ln_w, ln_b, col_ok, H, LN_C, ZONEOUT_C, ZONEOUT_H)
    if RESETS:
        dc_prev = tl.where(fresh, 0.0, dc_prev)
    dt = d_pre_ptr.dtype.element_ty
    tl.store(dc_ptr + state_offs, tl.where(active, dc_prev, dc), mask=mask)
    if ZONEOUT_H:  # the next matmul launch adds dL/dh~_t through zoneout
        tl.store(dh_ptr + state_offs, tl.where(active, dh_zoned, dh), mask=mask)
    if LN_C:
        tl.store(d_c_out_ptr + state_offs, to_output(d_c_out, active, dt, INTERPRET_BF16), mask=mask)
    da_i = to_output(da_i, active, dt, INTERPRET_BF16)
    da_f = to_output(da_f, active, dt, INTERPRET_BF16)
    da_g = to_output(da_g, active, dt, INTERPRET_BF16)
    da_o = to_output(da_o, active, dt, INTERPRET_BF16)
    store_gates(d_pre_ptr, gate_offs, mask, H, da_i, da_f, da_g, da_o)
    if LN_H:
        gain_i, gain_f, gain_g, gain_o = load_gains(ln_h_ptr, cols, H, LN_H)
        dr_i, dr_f, dr_g, dr_o = layer_norm_h_backward(da_i, da_f, da_g, da_o, gain_i, gain_f, gain_g, gain_o,
                                                       r_hat_ptr, gate_offs, r_rstd_ptr + rows, row_ok, mask, col_ok,
                                                       active, H, INTERPRET_BF16)
        store_gates(d_r_ptr, gate_offs, mask, H, dr_i, dr_f, dr_g, dr_o)
