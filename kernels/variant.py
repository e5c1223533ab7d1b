"""Pieces of the LSTM variants (DESIGN §4) that the step, row and sequence kernels share, behind constexpr flags.

Each helper takes the flag that enables it and, with the flag off, returns a placeholder the caller passes on
unused (dead code the compiler removes), so a kernel with every flag off is the vanilla kernel. Row-wide
reductions (LayerNorm) need tiles that hold whole rows: only the sequence and row kernels set LN_H / LN_C.
"""

import triton
import triton.language as tl

from .cell import cast, layer_norm4, layer_norm_backward4, to_output


@triton.jit
def load_gains(ln_h_ptr, cols, H: tl.constexpr, LN_H: tl.constexpr):
    """The LN_h gain (4H,) as four (1, BLOCK_H) float32 gate tiles."""
    if LN_H:
        ok = cols < H
        gain_i = tl.load(ln_h_ptr + cols, mask=ok, other=0.0).to(tl.float32)[None, :]
        gain_f = tl.load(ln_h_ptr + H + cols, mask=ok, other=0.0).to(tl.float32)[None, :]
        gain_g = tl.load(ln_h_ptr + 2 * H + cols, mask=ok, other=0.0).to(tl.float32)[None, :]
        gain_o = tl.load(ln_h_ptr + 3 * H + cols, mask=ok, other=0.0).to(tl.float32)[None, :]
        return gain_i, gain_f, gain_g, gain_o
    else:
        return cols, cols, cols, cols


@triton.jit
def load_ln_c(ln_c_w_ptr, ln_c_b_ptr, cols, H: tl.constexpr, LN_C: tl.constexpr):
    """The LN_c gain and bias (H,) as (1, BLOCK_H) float32 tiles."""
    if LN_C:
        ok = cols < H
        weight = tl.load(ln_c_w_ptr + cols, mask=ok, other=0.0).to(tl.float32)[None, :]
        bias = tl.load(ln_c_b_ptr + cols, mask=ok, other=0.0).to(tl.float32)[None, :]
        return weight, bias
    else:
        return cols, cols


@triton.jit
def load_keep(keep_ptr, offs, mask, DROPOUT: tl.constexpr):
    """The recurrent-dropout mask tile (float32), loaded once per sequence."""
    if DROPOUT:
        return tl.load(keep_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        return offs


@triton.jit
def load_zoneout(z_c_ptr, z_h_ptr, offs, mask, placeholder, ZONEOUT_C: tl.constexpr, ZONEOUT_H: tl.constexpr):
    """The zoneout tiles of one step (float32)."""
    z_c = placeholder
    z_h = placeholder
    if ZONEOUT_C:
        z_c = tl.load(z_c_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if ZONEOUT_H:
        z_h = tl.load(z_h_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    return z_c, z_h


@triton.jit
def fresh_rows(resets_t_ptr, rows, row_ok, RESETS: tl.constexpr):
    """(BLOCK_B, 1) bool: the rows whose state is zeroed on entering this step."""
    if RESETS:
        return (tl.load(resets_t_ptr + rows, mask=row_ok, other=0) != 0)[:, None]
    else:
        return row_ok


@triton.jit
def entering_state(h, c, keep, fresh, dt: tl.constexpr, INTERPRET_BF16: tl.constexpr, DROPOUT: tl.constexpr,
                   RESETS: tl.constexpr):
    """``h~, c~`` (zeroed where ``fresh``) and the matmul operand ``m ⊙ h~`` in ``dt``."""
    h_in = h
    c_in = c
    if RESETS:
        h_in = tl.where(fresh, 0.0, h).to(dt)
        c_in = tl.where(fresh, 0.0, c)
    h_rec = h_in
    if DROPOUT:
        h_rec = cast(h_in.to(tl.float32) * keep, dt, INTERPRET_BF16)
    return h_in, c_in, h_rec


@triton.jit
def add_layer_norm(p_i, p_f, p_g, p_o, col_ok, H: tl.constexpr, gain_i, gain_f, gain_g, gain_o, r_i, r_f, r_g, r_o):
    """``a = P_t + LN_h(r)`` from P_t's four gate tiles and the four float32 tiles of ``r = (m ⊙ h~) W_hhᵀ`` (whole
    rows of 4H)."""
    r_i, r_f, r_g, r_o, _ = layer_norm4(r_i, r_f, r_g, r_o, col_ok, 4 * H)
    return (p_i.to(tl.float32) + r_i * gain_i, p_f.to(tl.float32) + r_f * gain_f, p_g.to(tl.float32) + r_g * gain_g,
            p_o.to(tl.float32) + r_o * gain_o)


@triton.jit
def layer_norm_h_backward(da_i, da_f, da_g, da_o, gain_i, gain_f, gain_g, gain_o, r_hat_t, gate_offs, r_rstd_rows,
                          row_ok, mask, col_ok, active, H: tl.constexpr, INTERPRET_BF16: tl.constexpr):
    """dL/dr from the gate gradients ``da`` (input dtype, whole rows of 4H), rounded to the input dtype: the
    stored values and the recurrent matmul see the same numbers."""
    x_i = tl.load(r_hat_t + gate_offs, mask=mask, other=0.0)
    x_f = tl.load(r_hat_t + gate_offs + H, mask=mask, other=0.0)
    x_g = tl.load(r_hat_t + gate_offs + 2 * H, mask=mask, other=0.0)
    x_o = tl.load(r_hat_t + gate_offs + 3 * H, mask=mask, other=0.0)
    rstd = tl.load(r_rstd_rows, mask=row_ok, other=0.0)[:, None]
    dr_i, dr_f, dr_g, dr_o = layer_norm_backward4(
        da_i.to(tl.float32) * gain_i, da_f.to(tl.float32) * gain_f, da_g.to(tl.float32) * gain_g,
        da_o.to(tl.float32) * gain_o, x_i, x_f, x_g, x_o, rstd, col_ok, 4 * H)
    dt = da_i.dtype
    return (to_output(dr_i, active, dt, INTERPRET_BF16), to_output(dr_f, active, dt, INTERPRET_BF16),
            to_output(dr_g, active, dt, INTERPRET_BF16), to_output(dr_o, active, dt, INTERPRET_BF16))


@triton.jit
def recurrent_grad(dh_rec, dh_zoned, keep, fresh, DROPOUT: tl.constexpr, ZONEOUT_H: tl.constexpr,
                   RESETS: tl.constexpr):
    """dL/dh of the state leaving step t-1 from ``dh_rec = dL/dr_t W_hh``: through the dropout mask, plus the
    zoneout carry of step t, zero where step t reset its entering state."""
    if DROPOUT:
        dh_rec = dh_rec * keep
    if ZONEOUT_H:
        dh_rec = dh_rec + dh_zoned
    if RESETS:
        dh_rec = tl.where(fresh, 0.0, dh_rec)
    return dh_rec
