"""Sequence kernels: one launch for all T, grid over batch blocks only; for small H.

A program owns BLOCK_B batch rows and all H hidden units. It loads W_hh once, before the time loop,
as four (H × H) gate tiles that stay on chip (registers, or shared memory where the compiler stages
``tl.dot`` operands) for the whole sequence; ``h`` and ``c`` never leave the chip between steps. No
program ever waits for another, so the kernel is exact under TRITON_INTERPRET=1 too.
Trade-off: parallelism is only ceil(B / BLOCK_B) programs and the weights must fit on chip (the
launcher's ``SEQUENCE_MAX_HIDDEN`` per dtype); in return there is one launch per sequence instead of
per step and no per-step weight traffic — the FlashRNN regime of small H and long T.
"""

import triton
import triton.language as tl

from .cell import cast, cell_backward, cell_forward, dot, store_gates, to_output


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
def lstm_fwd_sequence_kernel(
    pre_ptr,  # (T, B, 4H) P = X W_ihᵀ + biases, input dtype
    w_ptr,  # (4H, H) W_hh, contiguous
    h0_ptr,  # (B, H)
    c0_ptr,  # (B, H)
    y_ptr,  # (T, B, H) outputs (zero past a row's length)
    gates_ptr,  # (T, B, 4H) activated gates, saved for backward
    cells_ptr,  # (T, B, H) c_t in the input dtype, saved for backward
    h_n_ptr,  # (B, H) h at each row's last valid step
    c_n_ptr,  # (B, H) c at each row's last valid step
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    T,  # steps
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,  # next power of two >= H
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_H)
    row_ok = rows < B
    mask = row_ok[:, None] & (cols < H)[None, :]
    w_i = _gate_tile(w_ptr, 0, cols, cols, H, True)
    w_f = _gate_tile(w_ptr, 1, cols, cols, H, True)
    w_g = _gate_tile(w_ptr, 2, cols, cols, H, True)
    w_o = _gate_tile(w_ptr, 3, cols, cols, H, True)
    state_offs = rows[:, None] * H + cols[None, :]
    gate_offs = rows[:, None] * (4 * H) + cols[None, :]
    dt = y_ptr.dtype.element_ty
    h = tl.load(h0_ptr + state_offs, mask=mask, other=0.0).to(dt)
    c = tl.load(c0_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), T, tl.int32)
    for t in range(T):
        pre_t = pre_ptr + t * B * 4 * H + gate_offs
        a_i = dot(h, w_i, tl.load(pre_t, mask=mask, other=0.0).to(tl.float32), INTERPRET_BF16, PRECISION)
        a_f = dot(h, w_f, tl.load(pre_t + H, mask=mask, other=0.0).to(tl.float32), INTERPRET_BF16, PRECISION)
        a_g = dot(h, w_g, tl.load(pre_t + 2 * H, mask=mask, other=0.0).to(tl.float32), INTERPRET_BF16, PRECISION)
        a_o = dot(h, w_o, tl.load(pre_t + 3 * H, mask=mask, other=0.0).to(tl.float32), INTERPRET_BF16, PRECISION)
        i, f, g, o, c_new, h_new = cell_forward(a_i, a_f, a_g, a_o, c)
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
    cells_ptr,  # (T, B, H) c_t from forward
    c0_ptr,  # (B, H)
    w_ptr,  # (4H, H) W_hh, contiguous
    d_pre_ptr,  # (T, B, 4H) output da (zero past a row's length)
    d_h0_ptr,  # (B, H) output
    d_c0_ptr,  # (B, H) output
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    T,  # steps
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,  # next power of two >= H
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_H)
    row_ok = rows < B
    mask = row_ok[:, None] & (cols < H)[None, :]
    w_i = _gate_tile(w_ptr, 0, cols, cols, H, False)
    w_f = _gate_tile(w_ptr, 1, cols, cols, H, False)
    w_g = _gate_tile(w_ptr, 2, cols, cols, H, False)
    w_o = _gate_tile(w_ptr, 3, cols, cols, H, False)
    state_offs = rows[:, None] * H + cols[None, :]
    gate_offs = rows[:, None] * (4 * H) + cols[None, :]
    dt = d_pre_ptr.dtype.element_ty
    dh = tl.load(grad_h_n_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    dc = tl.load(grad_c_n_ptr + state_offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), T, tl.int32)
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
        dh_t = dh + tl.load(grad_y_ptr + t * B * H + state_offs, mask=mask, other=0.0).to(tl.float32)
        da_i, da_f, da_g, da_o, dc_prev = cell_backward(dh_t, dc, i, f, g, o, c, c_prev)
        # rounded to the input dtype once: the stored d_pre and the recurrent matmul see the same values
        da_i = to_output(da_i, active, dt, INTERPRET_BF16)
        da_f = to_output(da_f, active, dt, INTERPRET_BF16)
        da_g = to_output(da_g, active, dt, INTERPRET_BF16)
        da_o = to_output(da_o, active, dt, INTERPRET_BF16)
        store_gates(d_pre_ptr + t * B * 4 * H, gate_offs, mask, H, da_i, da_f, da_g, da_o)
        dh_rec = dot(da_i, w_i, tl.zeros((BLOCK_B, BLOCK_H), tl.float32), INTERPRET_BF16, PRECISION)
        dh_rec = dot(da_f, w_f, dh_rec, INTERPRET_BF16, PRECISION)
        dh_rec = dot(da_g, w_g, dh_rec, INTERPRET_BF16, PRECISION)
        dh_rec = dot(da_o, w_o, dh_rec, INTERPRET_BF16, PRECISION)
        dh = tl.where(active, dh_rec, dh)
        dc = tl.where(active, dc_prev, dc)
    tl.store(d_h0_ptr + state_offs, cast(dh, dt, INTERPRET_BF16), mask=mask)
    tl.store(d_c0_ptr + state_offs, cast(dc, dt, INTERPRET_BF16), mask=mask)
