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


@triton.jit
def dot(a, b, acc, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    """``acc + a @ b`` in float32. DOT_FP32 upcasts the operands first: the launcher sets it for bfloat16
    under TRITON_INTERPRET=1, whose bf16 ``tl.dot`` is wrong (triton #11584); compiled code keeps bf16 tensor cores."""
    if DOT_FP32:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=PRECISION)
