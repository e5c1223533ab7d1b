"""Elementwise LSTM cell math shared by every kernel (DESIGN §2), in float32 registers.

Gate order i, f, g, o (as torch.nn.LSTM). Inputs are the pre-activations ``a_*`` of one tile; the
cell state is carried in float32 by the callers. ``cell_forward``/``cell_backward`` take the variants of
DESIGN §4 (zoneout, LayerNorm of c) behind constexpr flags; with every flag off they are the vanilla cell.
The LayerNorm helpers reduce over a tile's columns, so they need tiles that hold whole rows.
"""

import triton
import triton.language as tl


@triton.jit
def sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    # 2σ(2x) - 1: one exp, saturates cleanly to ±1 for large |x| (no inf/inf)
    return 2.0 * sigmoid(2.0 * x) - 1.0


EPS = tl.constexpr(1e-5)  # LayerNorm epsilon (lstmkit.ops.variants.EPS)


@triton.jit
def layer_norm(x, ok, N: tl.constexpr):
    """``(x - mean) * rstd`` over the columns of a (rows, ·) tile that holds whole rows of N features (``ok``:
    the real columns; padding columns must hold 0); returns the normalised tile and ``rstd`` (rows, 1)."""
    mean = tl.sum(x, 1)[:, None] / N
    d = tl.where(ok, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(d * d, 1)[:, None] / N + EPS)
    return d * rstd, rstd


@triton.jit
def layer_norm4(x_i, x_f, x_g, x_o, ok, N: tl.constexpr):
    """:func:`layer_norm` over a row of N = 4H features held as the four gate tiles i, f, g, o."""
    mean = (tl.sum(x_i, 1) + tl.sum(x_f, 1) + tl.sum(x_g, 1) + tl.sum(x_o, 1))[:, None] / N
    d_i = tl.where(ok, x_i - mean, 0.0)
    d_f = tl.where(ok, x_f - mean, 0.0)
    d_g = tl.where(ok, x_g - mean, 0.0)
    d_o = tl.where(ok, x_o - mean, 0.0)
    var = tl.sum(d_i * d_i, 1) + tl.sum(d_f * d_f, 1) + tl.sum(d_g * d_g, 1) + tl.sum(d_o * d_o, 1)
    rstd = 1.0 / tl.sqrt(var[:, None] / N + EPS)
    return d_i * rstd, d_f * rstd, d_g * rstd, d_o * rstd, rstd


@triton.jit
def layer_norm_backward(gy, xhat, rstd, ok, N: tl.constexpr):
    """dL/dx through ``xhat = (x - mean) * rstd`` given ``gy`` = dL/dxhat (gain applied), whole rows of N."""
    m1 = tl.sum(gy, 1)[:, None] / N
    m2 = tl.sum(gy * xhat, 1)[:, None] / N
    return tl.where(ok, rstd * (gy - m1 - xhat * m2), 0.0)


@triton.jit
def layer_norm_backward4(g_i, g_f, g_g, g_o, x_i, x_f, x_g, x_o, rstd, ok, N: tl.constexpr):
    """:func:`layer_norm_backward` over a row of N = 4H features held as the four gate tiles."""
    m1 = (tl.sum(g_i, 1) + tl.sum(g_f, 1) + tl.sum(g_g, 1) + tl.sum(g_o, 1))[:, None] / N
    m2 = (tl.sum(g_i * x_i, 1) + tl.sum(g_f * x_f, 1) + tl.sum(g_g * x_g, 1) + tl.sum(g_o * x_o, 1))[:, None] / N
    return (tl.where(ok, rstd * (g_i - m1 - x_i * m2), 0.0), tl.where(ok, rstd * (g_f - m1 - x_f * m2), 0.0),
            tl.where(ok, rstd * (g_g - m1 - x_g * m2), 0.0), tl.where(ok, rstd * (g_o - m1 - x_o * m2), 0.0))


@triton.jit
def cell_forward(
    a_i, a_f, a_g, a_o,  # gate pre-activations, float32
    c_prev,  # c~ entering the step, float32
    h_prev,  # h~ entering the step (zoneout_h only)
    z_c, z_h,  # zoneout tiles (1 keeps the previous value; the rate in eval); unused unless ZONEOUT_*
    ln_w, ln_b, ok,  # LN_c gain and bias (1, BLOCK_H) and real columns; unused unless LN_C (whole rows only)
    H: tl.constexpr,
    LN_C: tl.constexpr,
    ZONEOUT_C: tl.constexpr,
    ZONEOUT_H: tl.constexpr,
):
    """Returns the activated gates, the carried cell state and the new hidden state (all float32). With every
    flag off this is exactly the vanilla cell (DESIGN §2); the flags add DESIGN §4's zoneout and LN_c. Zoneout as
    Krueger et al. 2016: the output sees the new cell ``ĉ = f c~ + i g``, the zoned ``c_t`` is what is carried."""
    i = sigmoid(a_i)
    f = sigmoid(a_f)
    g = tanh(a_g)
    o = sigmoid(a_o)
    c = f * c_prev + i * g  # ĉ
    c_out = c
    if LN_C:
        c_norm, _ = layer_norm(c, ok, H)
        c_out = c_norm * ln_w + ln_b
    h = o * tanh(c_out)
    if ZONEOUT_C:
        c = c + z_c * (c_prev - c)
    if ZONEOUT_H:
        h = h + z_h * (h_prev.to(tl.float32) - h)
    return i, f, g, o, c, h


@triton.jit
def cell_backward(
    dh,  # dL/dh_t (incl. dy_t), float32
    dc,  # dL/dc_t carried from step t+1, float32
    i, f, g, o, c, c_prev,  # activated gates, carried c_t and c~ of the step, float32
    z_c, z_h, ln_w, ln_b, ok,  # as in cell_forward
    H: tl.constexpr,
    LN_C: tl.constexpr,
    ZONEOUT_C: tl.constexpr,
    ZONEOUT_H: tl.constexpr,
):
    """Returns the gate pre-activation gradients ``da_i, da_f, da_g, da_o``, the carries ``dL/dc~`` and
    ``dL/dh~`` through the cell and zoneout (the latter only meaningful with ZONEOUT_H), and ``dL/dLN_c(ĉ_t)``
    (only meaningful with LN_C: the caller reduces it into the LN_c parameter gradients). ``c`` is the carried
    c_t; with ZONEOUT_C the new cell ``ĉ = f c~ + i g`` that the output saw is recomputed from the gates."""
    carry_h = dh
    if ZONEOUT_H:
        carry_h = dh * z_h
        dh = dh * (1.0 - z_h)
    if ZONEOUT_C:
        c = f * c_prev + i * g  # ĉ
    c_out = c
    if LN_C:
        c_norm, c_rstd = layer_norm(c, ok, H)
        c_out = c_norm * ln_w + ln_b
    tc = tanh(c_out)
    da_o = dh * tc * o * (1.0 - o)
    d_c_out = dh * o * (1.0 - tc * tc)
    if ZONEOUT_C:  # c_t = z_c c~ + (1 - z_c) ĉ: the carried gradient splits before the output's joins
        carry_c = dc * z_c
        dc = dc * (1.0 - z_c)
    if LN_C:
        dc = dc + layer_norm_backward(d_c_out * ln_w, c_norm, c_rstd, ok, H)
    else:
        dc = dc + d_c_out
    da_i = dc * g * i * (1.0 - i)
    da_f = dc * c_prev * f * (1.0 - f)
    da_g = dc * i * (1.0 - g * g)
    if ZONEOUT_C:
        carry_c = carry_c + dc * f
    else:
        carry_c = dc * f
    return da_i, da_f, da_g, da_o, carry_c, carry_h, d_c_out


# INTERPRET_BF16 is set by the launcher for bfloat16 under TRITON_INTERPRET=1 only, where Triton 3.9's interpreter
# computes bf16 ``tl.dot`` on the raw bit patterns (triton #11584) and truncates float32 -> bf16 casts instead of
# rounding to nearest even; compiled GPU code never sets it and keeps bf16 tensor cores and hardware casts.


@triton.jit
def dot(a, b, acc, INTERPRET_BF16: tl.constexpr, PRECISION: tl.constexpr):
    """``acc + a @ b`` in float32."""
    if INTERPRET_BF16:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=PRECISION)


@triton.jit
def cast(x, dtype: tl.constexpr, INTERPRET_BF16: tl.constexpr):
    """float32 ``x`` to ``dtype``, rounding to nearest even."""
    if INTERPRET_BF16:  # round in integer arithmetic; the truncating cast is then exact
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        x = bits.to(tl.float32, bitcast=True)
    return x.to(dtype)


@triton.jit
def to_output(x, active, dtype: tl.constexpr, INTERPRET_BF16: tl.constexpr):
    """``x`` in rows still within their length, zero past it, in ``dtype``."""
    return cast(tl.where(active, x, 0.0), dtype, INTERPRET_BF16)


@triton.jit
def store_gates(ptr, offs, mask, H: tl.constexpr, i, f, g, o):
    """Store four gate tiles at ``offs``, ``offs + H``, ... of a (·, 4H) row (order i, f, g, o)."""
    tl.store(ptr + offs, i, mask=mask)
    tl.store(ptr + offs + H, f, mask=mask)
    tl.store(ptr + offs + 2 * H, g, mask=mask)
    tl.store(ptr + offs + 3 * H, o, mask=mask)


@triton.jit
def row_tile(B, H: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """This program's BLOCK_B whole rows: ``rows, cols, row_ok (BLOCK_B,), col_ok (1, BLOCK_H), mask`` and the
    offsets of a (B, H) state tile and of the first gate of a (B, 4H) gate tile."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_H)
    row_ok = rows < B
    col_ok = (cols < H)[None, :]
    mask = row_ok[:, None] & col_ok
    state_offs = rows[:, None] * H + cols[None, :]
    gate_offs = rows[:, None] * (4 * H) + cols[None, :]
    return rows, cols, row_ok, col_ok, mask, state_offs, gate_offs


@triton.jit
def active_rows(len_ptr, rows, row_ok, t, HAS_LENGTHS: tl.constexpr):
    """(BLOCK_B, 1) bool: the rows whose length reaches step ``t`` (every row without lengths)."""
    if HAS_LENGTHS:
        return (t < tl.load(len_ptr + rows, mask=row_ok, other=0))[:, None]
    else:
        return (rows >= 0)[:, None]


@triton.jit
def store_step(h_next_ptr, c_next_ptr, y_ptr, cells_ptr, gates_ptr, state_offs, gate_offs, mask, active,
               H: tl.constexpr, i, f, g, o, c, h, h_prev, c_prev, INTERPRET_BF16: tl.constexpr):
    """The outputs of one forward step of the step strategy: the next ``h``/``c`` state (unchanged past a row's
    length), ``y_t``, the carried ``c_t`` and the activated gates (zero past a row's length)."""
    dt = y_ptr.dtype.element_ty
    tl.store(h_next_ptr + state_offs, tl.where(active, cast(h, dt, INTERPRET_BF16), h_prev), mask=mask)
    tl.store(c_next_ptr + state_offs, tl.where(active, c, c_prev), mask=mask)
    tl.store(y_ptr + state_offs, to_output(h, active, dt, INTERPRET_BF16), mask=mask)
    tl.store(cells_ptr + state_offs, to_output(c, active, dt, INTERPRET_BF16), mask=mask)
    store_gates(gates_ptr, gate_offs, mask, H, to_output(i, active, dt, INTERPRET_BF16),
                to_output(f, active, dt, INTERPRET_BF16), to_output(g, active, dt, INTERPRET_BF16),
                to_output(o, active, dt, INTERPRET_BF16))
