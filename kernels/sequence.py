"""Sequence kernels: one launch for all T, grid over batch blocks only; for small H.

A program owns BLOCK_B batch rows and all H hidden units. It loads W_hh once, before the time loop,
as four (H × H) gate tiles that stay on chip (registers, or shared memory where the compiler stages
``tl.dot`` operands) for the whole sequence; ``h`` and ``c`` never leave the chip between steps. No
program ever waits for another, so the kernel is exact under TRITON_INTERPRET=1 too.
Trade-off: parallelism is only ceil(B / BLOCK_B) programs and the weights must fit on chip (the
launcher's ``SEQUENCE_MAX_HIDDEN`` per dtype); in return there is one launch per sequence instead of
per step and no per-step weight traffic — the FlashRNN regime of small H and long T.

Variants (DESIGN §4) are constexpr flags (all off: the vanilla kernel). A program owns whole rows, so
LayerNorm over 4H (LN_h) and over H (LN_c) are register reductions; masks are read per step, the dropout
mask and the gains once. Forward prefetches ``P_{t+1}`` during step t (16-bit operands), so its load latency is off
the chain of dependent steps. Backward reads LN_h's normalised input ``r̂`` and ``1/std``, recomputed by the
caller with one GEMM, and writes ``d_r`` (dW_hh's operand) and ``dL/dLN_c(c)`` (for the LN_c gradients).
"""

import triton
import triton.language as tl

from .cell import cast, cell_backward, cell_forward, dot, row_tile, store_gates, to_output
from .variant import (
    add_layer_norm,
    entering_state,
    fresh_rows,
    layer_norm_h_backward,
    load_gains,
    load_keep,
    load_ln_c,
    load_zoneout,
    recurrent_grad,
)


@triton.jit
def _gate_tile(w_ptr, gate, rows_k, cols, H: tl.constexpr, TRANSPOSE: tl.constexpr):
    """(BLOCK_H, BLOCK_H) tile of gate ``gate`` of W_hh (4H, H): ``W_gᵀ[k, j]`` if TRANSPOSE else ``W_g[k, j]``."""
    mask = (rows_k < H)[:, None] & (cols < H)[None, :]
    if TRANSPOSE:
        offs = (gate * H + cols[None, :]) * H + rows_k[:, None]
    else:
        offs = (gate * H + rows_k[:, None]) * H + cols[None, :]
    return tl.load(w_ptr + offs, mask=mask, other=0.0)


@triton.jit
def _gate_tiles(w_ptr, cols, H: tl.constexpr, TRANSPOSE: tl.constexpr):
    """The four gate tiles i, f, g, o of W_hh (see ``_gate_tile``), loaded once per sequence."""
    return (_gate_tile(w_ptr, 0, cols, cols, H, TRANSPOSE), _gate_tile(w_ptr, 1, cols, cols, H, TRANSPOSE),
            _gate_tile(w_ptr, 2, cols, cols, H, TRANSPOSE), _gate_tile(w_ptr, 3, cols, cols, H, TRANSPOSE))


@triton.jit
def _load_pre(pre_t, mask, H: tl.constexpr):
    """The four gate tiles i, f, g, o of ``P_t`` at ``pre_t`` (the tile's offsets applied), in the input dtype."""
    return (tl.load(pre_t, mask=mask, other=0.0), tl.load(pre_t + H, mask=mask, other=0.0),
            tl.load(pre_t + 2 * H, mask=mask, other=0.0), tl.load(pre_t + 3 * H, mask=mask, other=0.0))


@triton.jit
def lstm_fwd_sequence_kernel(
    pre_ptr,  # (T, B, 4H) P = X W_ihᵀ + biases (LN_x already applied by the caller), input dtype
    w_ptr,  # (4H, H) W_hh, contiguous
    h0_ptr,  # (B, H)
    c0_ptr,  # (B, H)
    y_ptr,  # (T, B, H) outputs (zero past a row's length)
    gates_ptr,  # (T, B, 4H) activated gates, saved for backward
    cells_ptr,  # (T, B, H) carried c_t in the input dtype, saved for backward
    h_n_ptr,  # (B, H) h at each row's last valid step
    c_n_ptr,  # (B, H) c at each row's last valid step
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    ln_h_ptr,  # (4H,) LN_h gain; unused unless LN_H
    ln_c_w_ptr,  # (H,) LN_c gain; unused unless LN_C
    ln_c_b_ptr,  # (H,) LN_c bias; unused unless LN_C
    z_c_ptr,  # (T, B, H) zoneout of c (1 keeps c~; the rate in eval); unused unless ZONEOUT_C
    z_h_ptr,  # (T, B, H) zoneout of h; unused unless ZONEOUT_H
    keep_ptr,  # (B, H) recurrent-dropout mask (0 or 1/(1-p)); unused unless DROPOUT
    resets_ptr,  # (T, B) uint8: zero the state entering step t; unused unless RESETS
    T,  # steps
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,  # next power of two >= H
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
    PREFETCH: tl.constexpr = True,  # load P_{t+1} during step t (launch.sequence_prefetch)
    LN_H: tl.constexpr = False,
    LN_C: tl.constexpr = False,
    ZONEOUT_C: tl.constexpr = False,
    ZONEOUT_H: tl.constexpr = False,
    DROPOUT: tl.constexpr = False,
    RESETS: tl.constexpr = False,
):
    rows, cols, row_ok, col_ok, mask, state_offs, gate_offs = row_tile(B, H, BLOCK_B, BLOCK_H)
    w_i, w_f, w_g, w_o = _gate_tiles(w_ptr, cols, H, True)  # W_gᵀ: h @ W_gᵀ
    dt = y_ptr.dtype.element_ty
    h = tl.load(h0_ptr + state_offs, mask=mask, other=0.0).to(dt)
    c = tl.load(c0_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), T, tl.int32)
    gain_i, gain_f, gain_g, gain_o = load_gains(ln_h_ptr, cols, H, LN_H)
    ln_w, ln_b = load_ln_c(ln_c_w_ptr, ln_c_b_ptr, cols, H, LN_C)
    keep = load_keep(keep_ptr, state_offs, mask, DROPOUT)
    p_i, p_f, p_g, p_o = _load_pre(pre_ptr + gate_offs, mask, H)  # P_0
    for t in range(T):
        if PREFETCH:  # P_{t+1} (P_{T-1} again at the last step): in flight during this step, off the critical path
            n_i, n_f, n_g, n_o = _load_pre(pre_ptr + tl.minimum(t + 1, T - 1) * B * 4 * H + gate_offs, mask, H)
        else:  # P_t now (the carried tile is then dead: no registers held across steps)
            p_i, p_f, p_g, p_o = _load_pre(pre_ptr + t * B * 4 * H + gate_offs, mask, H)
            n_i, n_f, n_g, n_o = p_i, p_f, p_g, p_o
        fresh = fresh_rows(resets_ptr + t * B, rows, row_ok, RESETS)
        h_in, c_in, h_rec = entering_state(h, c, keep, fresh, dt, INTERPRET_BF16, DROPOUT, RESETS)
        if LN_H:  # a = P_t + LN_h(h~ W_hhᵀ): the recurrent part is normalised over all 4H on its own
            zero = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
            a_i, a_f, a_g, a_o = add_layer_norm(
                p_i, p_f, p_g, p_o, col_ok, H, gain_i, gain_f, gain_g, gain_o, dot(h_rec, w_i, zero, INTERPRET_BF16,
                PRECISION), dot(h_rec, w_f, zero, INTERPRET_BF16, PRECISION), dot(h_rec, w_g, zero, INTERPRET_BF16,
                PRECISION), dot(h_rec, w_o, zero, INTERPRET_BF16, PRECISION))
        else:
            a_i = dot(h_rec, w_i, p_i.to(tl.float32), INTERPRET_BF16, PRECISION)
            a_f = dot(h_rec, w_f, p_f.to(tl.float32), INTERPRET_BF16, PRECISION)
            a_g = dot(h_rec, w_g, p_g.to(tl.float32), INTERPRET_BF16, PRECISION)
            a_o = dot(h_rec, w_o, p_o.to(tl.float32), INTERPRET_BF16, PRECISION)
        p_i, p_f, p_g, p_o = n_i, n_f, n_g, n_o
        z_c, z_h = load_zoneout(z_c_ptr + t * B * H, z_h_ptr + t * B * H, state_offs, mask, c, ZONEOUT_C, ZONEOUT_H)
        i, f, g, o, c_new, h_new = cell_forward(a_i, a_f, a_g, a_o, c_in, h_in, z_c, z_h, ln_w, ln_b, col_ok, H,
                                                LN_C, ZONEOUT_C, ZONEOUT_H)
        active = (t < lens)[:, None]
        store_gates(
            gates_ptr + t * B * 4 * H, gate_offs, mask, H, to_output(i, active, dt, INTERPRET_BF16),
            to_output(f, active, dt, INTERPRET_BF16), to_output(g, active, dt, INTERPRET_BF16),
            to_output(o, active, dt, INTERPRET_BF16),
        )
        tl.store(cells_ptr + t * B * H + state_offs, to_output(c_new, active, dt, INTERPRET_BF16), mask=mask)
        tl.store(y_ptr + t * B * H + state_offs, to_output(h_new, active, dt, INTERPRET_BF16), mask=mask)
        h = tl.where(active, cast(h_new, dt, INTERPRET_BF16), h)
        c = tl.where(active, c_new, c)
    tl.store(h_n_ptr + state_offs, h, mask=mask)
    tl.store(c_n_ptr + state_offs, cast(c, dt, INTERPRET_BF16), mask=mask)


@triton.jit
def lstm_bwd_sequence_kernel(
    grad_y_ptr,  # (T, B, H) dL/dy
    grad_h_n_ptr,  # (B, H)
    grad_c_n_ptr,  # (B, H)
    gates_ptr,  # (T, B, 4H) activated gates from forward
    cells_ptr,  # (T, B, H) carried c_t from forward
    c0_ptr,  # (B, H)
    w_ptr,  # (4H, H) W_hh, contiguous
    d_pre_ptr,  # (T, B, 4H) output da (zero past a row's length)
    d_h0_ptr,  # (B, H) output
    d_c0_ptr,  # (B, H) output
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    ln_h_ptr,  # (4H,) LN_h gain; unused unless LN_H
    r_hat_ptr,  # (T, B, 4H) float32 normalised h~ W_hhᵀ (recomputed by the caller); unused unless LN_H
    r_rstd_ptr,  # (T, B) float32 its 1/std; unused unless LN_H
    d_r_ptr,  # (T, B, 4H) output dL/d(h~ W_hhᵀ), the input of the dW_hh GEMM; unused unless LN_H
    ln_c_w_ptr,  # (H,) LN_c gain; unused unless LN_C
    ln_c_b_ptr,  # (H,) LN_c bias; unused unless LN_C
    d_c_out_ptr,  # (T, B, H) output dL/dLN_c(c_t), reduced by the caller; unused unless LN_C
    z_c_ptr,  # (T, B, H); unused unless ZONEOUT_C
    z_h_ptr,  # (T, B, H); unused unless ZONEOUT_H
    keep_ptr,  # (B, H); unused unless DROPOUT
    resets_ptr,  # (T, B) uint8; unused unless RESETS
    T,  # steps
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,  # next power of two >= H
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
    LN_H: tl.constexpr = False,
    LN_C: tl.constexpr = False,
    ZONEOUT_C: tl.constexpr = False,
    ZONEOUT_H: tl.constexpr = False,
    DROPOUT: tl.constexpr = False,
    RESETS: tl.constexpr = False,
):
    rows, cols, row_ok, col_ok, mask, state_offs, gate_offs = row_tile(B, H, BLOCK_B, BLOCK_H)
    w_i, w_f, w_g, w_o = _gate_tiles(w_ptr, cols, H, False)  # W_g: da_g @ W_g
    dt = d_pre_ptr.dtype.element_ty
    dh = tl.load(grad_h_n_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    dc = tl.load(grad_c_n_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), T, tl.int32)
    gain_i, gain_f, gain_g, gain_o = load_gains(ln_h_ptr, cols, H, LN_H)
    ln_w, ln_b = load_ln_c(ln_c_w_ptr, ln_c_b_ptr, cols, H, LN_C)
    keep = load_keep(keep_ptr, state_offs, mask, DROPOUT)
    for s in range(T):
        t = T - 1 - s
        active = (t < lens)[:, None]
        gates_t = gates_ptr + t * B * 4 * H + gate_offs
        i = tl.load(gates_t, mask=mask, other=0.0).to(tl.float32)
        f = tl.load(gates_t + H, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(gates_t + 2 * H, mask=mask, other=0.0).to(tl.float32)
        o = tl.load(gates_t + 3 * H, mask=mask, other=0.0).to(tl.float32)
        c = tl.load(cells_ptr + t * B * H + state_offs, mask=mask, other=0.0).to(tl.float32)
        if t > 0:
            c_prev = tl.load(cells_ptr + (t - 1) * B * H + state_offs, mask=mask, other=0.0).to(tl.float32)
        else:
            c_prev = tl.load(c0_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
        fresh = fresh_rows(resets_ptr + t * B, rows, row_ok, RESETS)
        if RESETS:
            c_prev = tl.where(fresh, 0.0, c_prev)
        dh_t = dh + tl.load(grad_y_ptr + t * B * H + state_offs, mask=mask, other=0.0).to(tl.float32)
        z_c, z_h = load_zoneout(z_c_ptr + t * B * H, z_h_ptr + t * B * H, state_offs, mask, c, ZONEOUT_C, ZONEOUT_H)
        da_i, da_f, da_g, da_o, dc_prev, dh_zoned, d_c_out = cell_backward(
            dh_t, dc, i, f, g, o, c, c_prev, z_c, z_h, ln_w, ln_b, col_ok, H, LN_C, ZONEOUT_C, ZONEOUT_H)
        # rounded to the input dtype once: the stored d_pre and the recurrent matmul see the same values
        da_i = to_output(da_i, active, dt, INTERPRET_BF16)
        da_f = to_output(da_f, active, dt, INTERPRET_BF16)
        da_g = to_output(da_g, active, dt, INTERPRET_BF16)
        da_o = to_output(da_o, active, dt, INTERPRET_BF16)
        store_gates(d_pre_ptr + t * B * 4 * H, gate_offs, mask, H, da_i, da_f, da_g, da_o)
        if LN_C:
            tl.store(d_c_out_ptr + t * B * H + state_offs, to_output(d_c_out, active, dt, INTERPRET_BF16), mask=mask)
        if LN_H:
            da_i, da_f, da_g, da_o = layer_norm_h_backward(
                da_i, da_f, da_g, da_o, gain_i, gain_f, gain_g, gain_o, r_hat_ptr + t * B * 4 * H, gate_offs,
                r_rstd_ptr + t * B + rows, row_ok, mask, col_ok, active, H, INTERPRET_BF16)
            store_gates(d_r_ptr + t * B * 4 * H, gate_offs, mask, H, da_i, da_f, da_g, da_o)
        dh_rec = dot(da_i, w_i, tl.zeros((BLOCK_B, BLOCK_H), tl.float32), INTERPRET_BF16, PRECISION)
        dh_rec = dot(da_f, w_f, dh_rec, INTERPRET_BF16, PRECISION)
        dh_rec = dot(da_g, w_g, dh_rec, INTERPRET_BF16, PRECISION)
        dh_rec = dot(da_o, w_o, dh_rec, INTERPRET_BF16, PRECISION)
        dh_rec = recurrent_grad(dh_rec, dh_zoned, keep, fresh, DROPOUT, ZONEOUT_H, RESETS)
        if RESETS:
            dc_prev = tl.where(fresh, 0.0, dc_prev)
        dh = tl.where(active, dh_rec, dh)
        dc = tl.where(active, dc_prev, dc)
    tl.store(d_h0_ptr + state_offs, cast(dh, dt, INTERPRET_BF16), mask=mask)
    tl.store(d_c0_ptr + state_offs, cast(dc, dt, INTERPRET_BF16), mask=mask)
