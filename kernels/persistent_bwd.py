"""Persistent backward kernel: all T steps in reverse in one launch, the backward of :mod:`.persistent`; H 256–1024.

Grid: batch blocks × P hidden blocks, as the forward (every program resident at once). Program (b, p) owns hidden
units ``j`` of block p for the rows of batch block b. Before the time loop it loads its slice of W_hh — the columns
``j`` of all 4H rows, as four (BLOCK_K, BLOCK_H) gate tiles ``W_g[k, j] = W_hh[g·H + k, j]`` (K = H padded to a power
of two) — which stays on chip (shared memory: the compiler stages the MMA's B operand there, once) for the whole
sequence. Per step t, from T-1 down to 0, then once more for ``d_h0`` (``t = -1``):

1. prefetch what step t-1 needs (its gates, ``c_{t-1}``, ``c_{t-2}`` or ``c0``, ``grad_y_{t-1}``): in flight while
   step t waits and computes;
2. wait until the per-batch-block counter reaches P·(T-1-t) (every program has written ``da_{t+1}``), with acquire
   semantics, then read all of ``da_{t+1}`` (``d_pre[t+1]``, B-tile × 4H, through L2: written by other SMs) — its
   four gate chunks all before the first MMA up to K = 512 (``GATES_AT_ONCE``: one L2 round trip), one at a time at
   K = 1024, where staging all four would need 256 KB of shared memory besides the slice;
3. ``dh_t[:, j] = da_{t+1} · W_hh[:, j]``: four MMAs ``da_{t+1,g} (BLOCK_B, K) · W_g (K, BLOCK_H)``, K = 4H in all,
   where a row's length reaches t+1 (else the carried gradient of ``h_n`` passes through unchanged); then
   ``grad_y_t`` is added and the cell backward of :func:`.cell.cell_backward` runs for the program's units;
4. store ``da_t`` (= ``d_pre[t]``, its four gate slots; zero past a row's length) and increment the counter with
   release semantics (after a CTA barrier, so every thread's stores are ordered before it).

``dh`` and ``dc`` of the program's own units stay in registers (float32); at ``t = -1`` only step 3's matmul has
an effect (every row is active at step 0): ``d_h0 = da_0 · W_hh[:, j]``, ``d_c0 = dc``. Masks as
:func:`.step.lstm_bwd_step_kernel`'s, without the skew: a row past its length passes ``dh``/``dc`` through and
gets ``da = 0``. dW_hh is the caller's one GEMM, ``Σ_t da_tᵀ h_{t-1}``; nothing here touches the weights.

MMA: the backward's output tile is BLOCK_B × BLOCK_H = 16 × 16 whichever way the operands go, below sm_90 wgmma's
64-row M (a 64-unit block would need a 64 × 4H slice, 512 KB at H = 1024). So M = the batch tile, N = the 16 units,
and the kernel expects ``mma.sync.aligned.m16n8k16`` (HMMA) on sm_90 and sm_80 alike; ``scripts/kernel_report.py``
checks that in the PTX (and that no ``wgmma`` appears). Per step a program streams 16 × 4H of ``da`` from L2 and
reads its 4H × 16 W slice from shared memory.

``PERSISTENT=False`` runs the same body for the single step ``t = T-1-s0`` and returns (the launch boundary is the
barrier; ``dh``/``dc`` go through ``dh_state``/``dc_state``): ``persistent_launch.persistent_backward(...,
one_step=True)`` runs it T+1 times, which works under TRITON_INTERPRET=1 (tests), where a spin-wait would never end.
"""

import triton
import triton.language as tl

from .cell import cell_backward, dot, store_gates, to_output
from .persistent import signal_step, wait_for


@triton.jit
def _w_gate(w_ptr, gate, ks, units, w_mask, H: tl.constexpr):
    """(BLOCK_K, BLOCK_H) tile ``W_hh[gate·H + k, j]`` of the program's units: the B operand of ``da_g · W_g``."""
    return tl.load(w_ptr + (gate * H + ks[:, None]) * H + units[None, :], mask=w_mask, other=0.0)


@triton.jit
def _per_row(rows, t):
    """Step ``t`` as a (BLOCK_B, 1) tensor: conditions on it broadcast into masks (the interpreter rejects a scalar
    condition broadcast into a load mask)."""
    return (tl.zeros_like(rows) + t)[:, None]


@triton.jit
def _load_step(gates_ptr, cells_ptr, c0_ptr, grad_y_ptr, t, rows, B, gate_offs, state_offs, mask, H: tl.constexpr):
    """What step t's cell backward reads: gates i, f, g, o, ``c_t``, ``c_{t-1}`` (``c0`` at t = 0), ``grad_y_t``,
    in the input dtype; all zero for t < 0 (the closing iteration and the prefetch past it)."""
    tc = tl.maximum(t, 0)  # in-bounds addresses; the masks carry t >= 0
    t_rows = _per_row(rows, t)
    ok = mask & (t_rows >= 0)
    gates_t = gates_ptr + tc * B * 4 * H + gate_offs
    i = tl.load(gates_t, mask=ok, other=0.0)
    f = tl.load(gates_t + H, mask=ok, other=0.0)
    g = tl.load(gates_t + 2 * H, mask=ok, other=0.0)
    o = tl.load(gates_t + 3 * H, mask=ok, other=0.0)
    c = tl.load(cells_ptr + tc * B * H + state_offs, mask=ok, other=0.0)
    c_prev = tl.load(cells_ptr + tl.maximum(t - 1, 0) * B * H + state_offs, mask=mask & (t_rows > 0), other=0.0)
    c_prev += tl.load(c0_ptr + state_offs, mask=mask & (t_rows == 0), other=0.0)
    grad_y = tl.load(grad_y_ptr + tc * B * H + state_offs, mask=ok, other=0.0)
    return i, f, g, o, c, c_prev, grad_y


@triton.jit
def _da_gate(d_pre_next, gate, rows, ks, da_mask, H: tl.constexpr):
    """(BLOCK_B, BLOCK_K) tile of gate ``gate`` of ``da_{t+1}``, through L2 (``.cg``: written by other SMs)."""
    return tl.load(d_pre_next + rows[:, None] * (4 * H) + gate * H + ks[None, :], mask=da_mask, other=0.0,
                   cache_modifier=".cg")


@triton.jit(do_not_specialize=["s0"])  # one binary for every step of the one-step mode
def lstm_bwd_persistent_kernel(
    grad_y_ptr,  # (T, B, H) dL/dy
    gates_ptr,  # (T, B, 4H) activated gates from forward
    cells_ptr,  # (T, B, H) carried c_t from forward
    c0_ptr,  # (B, H)
    w_ptr,  # (4H, H) W_hh, contiguous
    d_pre_ptr,  # (T, B, 4H) output da_t (zero past a row's length), input dtype
    dh_state_ptr,  # (B, H) float32 carried dL/dh of the program's units: grad_h_n in, d_h0 out
    dc_state_ptr,  # (B, H) float32 carried dL/dc: grad_c_n in, d_c0 out
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    count_ptr,  # (batch blocks,) int32 zeros: programs done with each step, per batch block
    s0,  # first iteration of this launch: step t = T-1-s0 (0 when PERSISTENT); s0 = T is the closing d_h0
    T,  # steps
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,  # batch rows per program: the MMA's M
    BLOCK_H: tl.constexpr,  # hidden units per program: the MMA's N
    BLOCK_K: tl.constexpr,  # next power of two >= H: the K of each of the four gate MMAs
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
    PERSISTENT: tl.constexpr,  # all T+1 iterations with the counter; False: iteration s0 only, no waiting
    GATES_AT_ONCE: tl.constexpr,  # load da_{t+1}'s four gate chunks before the first MMA (needs 4·16·K·2 B shared)
):
    pid_b = tl.program_id(0)
    num_p = tl.num_programs(1)
    rows = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    units = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    mask = row_ok[:, None] & (units < H)[None, :]
    state_offs = rows[:, None] * H + units[None, :]  # (BLOCK_B, BLOCK_H) of a (B, H) tensor
    gate_offs = rows[:, None] * (4 * H) + units[None, :]  # gate i of a (B, 4H) tensor; + g·H for gate g
    ks = tl.arange(0, BLOCK_K)
    k_ok = ks < H
    # the W_hh slice, loaded once: it stays on chip for every step of this launch
    w_mask = k_ok[:, None] & (units < H)[None, :]
    w_i = _w_gate(w_ptr, 0, ks, units, w_mask, H)
    w_f = _w_gate(w_ptr, 1, ks, units, w_mask, H)
    w_g = _w_gate(w_ptr, 2, ks, units, w_mask, H)
    w_o = _w_gate(w_ptr, 3, ks, units, w_mask, H)
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), T, tl.int32)
    dt = d_pre_ptr.dtype.element_ty
    zero = tl.zeros((BLOCK_B, BLOCK_H), tl.float32)
    dh = tl.load(dh_state_ptr + state_offs, mask=mask, other=0.0)
    dc = tl.load(dc_state_ptr + state_offs, mask=mask, other=0.0)
    if PERSISTENT:
        s_end = T + 1
    else:
        s_end = s0 + 1
    step = _load_step(gates_ptr, cells_ptr, c0_ptr, grad_y_ptr, T - 1 - s0, rows, B, gate_offs, state_offs, mask, H)
    for s in range(s0, s_end):
        t = T - 1 - s
        t_rows = _per_row(rows, t)
        nxt = _load_step(gates_ptr, cells_ptr, c0_ptr, grad_y_ptr, t - 1, rows, B, gate_offs, state_offs, mask, H)
        if PERSISTENT:  # every program of this batch block has stored da_{t+1}
            wait_for(count_ptr + pid_b, num_p * s)
        d_pre_next = d_pre_ptr + tl.minimum(t + 1, T - 1) * B * 4 * H
        da_mask = row_ok[:, None] & k_ok[None, :] & (t_rows + 1 < T)
        # one accumulator per gate: no dependency between the gates' MMA chains (ptxas still issues them in order)
        if GATES_AT_ONCE:  # the four chunks are loaded (and staged) before the first MMA: one L2 round trip
            da_i = _da_gate(d_pre_next, 0, rows, ks, da_mask, H)
            da_f = _da_gate(d_pre_next, 1, rows, ks, da_mask, H)
            da_g = _da_gate(d_pre_next, 2, rows, ks, da_mask, H)
            da_o = _da_gate(d_pre_next, 3, rows, ks, da_mask, H)
            acc = (dot(da_i, w_i, zero, INTERPRET_BF16, PRECISION) + dot(da_f, w_f, zero, INTERPRET_BF16, PRECISION)
                   + dot(da_g, w_g, zero, INTERPRET_BF16, PRECISION) + dot(da_o, w_o, zero, INTERPRET_BF16, PRECISION))
        else:  # one chunk staged at a time (its load follows the previous gate's MMAs)
            acc = (dot(_da_gate(d_pre_next, 0, rows, ks, da_mask, H), w_i, zero, INTERPRET_BF16, PRECISION)
                   + dot(_da_gate(d_pre_next, 1, rows, ks, da_mask, H), w_f, zero, INTERPRET_BF16, PRECISION)
                   + dot(_da_gate(d_pre_next, 2, rows, ks, da_mask, H), w_g, zero, INTERPRET_BF16, PRECISION)
                   + dot(_da_gate(d_pre_next, 3, rows, ks, da_mask, H), w_o, zero, INTERPRET_BF16, PRECISION))
        dh = tl.where(t_rows + 1 < lens[:, None], acc, dh)  # da_{t+1} = 0 past a row's length: dh passes through
        i, f, g, o, c, c_prev, grad_y = step
        da_i, da_f, da_g, da_o, dc_prev, _, _ = cell_backward(
            dh + grad_y.to(tl.float32), dc, i.to(tl.float32), f.to(tl.float32), g.to(tl.float32), o.to(tl.float32),
            c.to(tl.float32), c_prev.to(tl.float32), dc, dc, dc, dc, mask, H, False, False, False)
        active = (t_rows >= 0) & (t_rows < lens[:, None])
        dc = tl.where(active, dc_prev, dc)
        store_gates(d_pre_ptr + tl.maximum(t, 0) * B * 4 * H, gate_offs, mask & (t_rows >= 0), H,
                    to_output(da_i, active, dt, INTERPRET_BF16), to_output(da_f, active, dt, INTERPRET_BF16),
                    to_output(da_g, active, dt, INTERPRET_BF16), to_output(da_o, active, dt, INTERPRET_BF16))
        if PERSISTENT:  # da_t of this slice is stored: release it to the other programs
            signal_step(count_ptr + pid_b)
        step = nxt
    tl.store(dh_state_ptr + state_offs, dh, mask=mask)
    tl.store(dc_state_ptr + state_offs, dc, mask=mask)
