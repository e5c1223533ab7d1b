"""Elementwise LSTM cell math shared by every kernel (DESIGN §2), in float32 registers.

Gate order i, f, g, o (as torch.nn.LSTM). Inputs are the pre-activations ``a_*`` of one tile; the
cell state is carried in float32 by the callers.
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


@triton.jit
def cell_forward(a_i, a_f, a_g, a_o, c_prev):
    """Returns the activated gates, the new cell state and the new hidden state (all float32)."""
    i = sigmoid(a_i)
    f = sigmoid(a_f)
    g = tanh(a_g)
    o = sigmoid(a_o)
    c = f * c_prev + i * g
    h = o * tanh(c)
    return i, f, g, o, c, h


@triton.jit
def cell_backward(dh, dc, i, f, g, o, c, c_prev):
    """Given dL/dh_t (incl. dy_t) and dL/dc_t from step t+1: the gate pre-activation gradients and dL/dc_{t-1}."""
    tc = tanh(c)
    da_o = dh * tc * o * (1.0 - o)
    dc = dc + dh * o * (1.0 - tc * tc)
    da_i = dc * g * i * (1.0 - i)
    da_f = dc * c_prev * f * (1.0 - f)
    da_g = dc * i * (1.0 - g * g)
    return da_i, da_f, da_g, da_o, dc * f


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
