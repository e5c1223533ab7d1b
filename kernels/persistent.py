"""Persistent forward kernel: one launch for all T, every program resident for the whole sequence; H 256–1024.

Grid: batch blocks × P hidden blocks (P·batch blocks ≤ the SM count, so that every program is resident at once).
Program (b, p) owns hidden units ``j`` of block p for the rows of batch block b, all four gates of them. Before the
time loop it loads its slice of W_hh — the rows ``g·H + j`` for the gates g = i, f, g, o, a (4·BLOCK_H, K) tile,
K = H padded to a power of two — which stays on chip (shared memory, as the MMA operand) for the whole sequence.
Per step t:

1. prefetch ``P_{t+1}`` (its load is in flight while the step computes);
2. wait until the per-batch-block counter reaches P·t (every program has written ``h_{t-1}``), with acquire
   semantics, then read all of ``h_{t-1}`` (``hs[t]``, through L2: written by other SMs);
3. ``a_tᵀ = W_slice · h_{t-1}ᵀ + P_tᵀ``: one MMA with M = 4·BLOCK_H = 64 (the stacked gate slice, so sm_90's wgmma
   applies even at B = 16), N = the batch tile, K = H; then the cell update of :func:`.cell.cell_forward`;
4. store ``h_t`` (``hs[t+1]``, which is ``y_t``), the gates and ``c_t``, then increment the counter with release
   semantics (after a CTA barrier, so every thread's stores are ordered before it).

``h_{t-1}`` and ``c`` of the program's own units stay in registers; ``hs`` (T+1, B, H) holds ``h0`` then every
``y_t``, so no buffer is overwritten while another program may still read it.

``PERSISTENT=False`` runs the same per-step body for the single step ``t0`` and returns: the launch boundary is
the barrier, the state goes through ``h_state``/``c_state``. The launcher uses it under TRITON_INTERPRET=1 tests
(the interpreter runs programs one after another, so a spin-wait would never end): exactly the code of a
persistent step, without the wait and signal. Backward: :mod:`.persistent_bwd`, the same scheme in reverse.
"""

import triton
import triton.language as tl

from .cell import cast, cell_forward, dot, to_output


@triton.jit
def wait_for(counter, target):
    """Spin until ``*counter >= target`` with acquire semantics (GPU scope), then a CTA barrier: every thread's
    loads that follow see what the programs that counted had stored before their release."""
    seen = tl.atomic_add(counter, 0, sem="acquire", scope="gpu")
    while seen < target:
        seen = tl.atomic_add(counter, 0, sem="acquire", scope="gpu")
    tl.debug_barrier()


@triton.jit
def signal_step(counter):
    """Count this program's step as done: a CTA barrier (every thread's stores before it), then a release increment."""
    tl.debug_barrier()
    tl.atomic_add(counter, 1, sem="release", scope="gpu")


@triton.jit
def _gate_rows(x, BLOCK_H: tl.constexpr, BLOCK_B: tl.constexpr):
    """The four (BLOCK_H, BLOCK_B) gate tiles i, f, g, o of a (4·BLOCK_H, BLOCK_B) tile stacked gate by gate."""
    x = tl.permute(tl.reshape(x, (4, BLOCK_H, BLOCK_B)), (1, 2, 0))  # (BLOCK_H, BLOCK_B, 4): gate last
    even, odd = tl.split(tl.reshape(x, (BLOCK_H, BLOCK_B, 2, 2)))  # gates {0, 2} and {1, 3}
    i, g = tl.split(even)
    f, o = tl.split(odd)
    return i, f, g, o


@triton.jit
def _load_pre_t(pre_ptr, t, B, gate_offs, mask, H: tl.constexpr):
    """``P_tᵀ`` of the program's slice: a (4·BLOCK_H, BLOCK_B) tile in the input dtype."""
    return tl.load(pre_ptr + t * B * 4 * H + gate_offs, mask=mask, other=0.0)


@triton.jit(do_not_specialize=["t0"])  # one binary for every step of the one-step mode
def lstm_fwd_persistent_kernel(
    pre_ptr,  # (T, B, 4H) P = X W_ihᵀ + biases, input dtype
    w_ptr,  # (4H, H) W_hh, contiguous
    hs_ptr,  # (T+1, B, H) hs[0] = h0 (set by the launcher); hs[t+1] = y_t (zero past a row's length)
    gates_ptr,  # (T, B, 4H) activated gates, saved for backward
    cells_ptr,  # (T, B, H) c_t in the input dtype, saved for backward
    h_state_ptr,  # (B, H) h at each row's last valid step so far, input dtype, in/out
    c_state_ptr,  # (B, H) float32 c at each row's last valid step so far, in/out
    len_ptr,  # (B,) int32 lengths; unused unless HAS_LENGTHS
    count_ptr,  # (batch blocks,) int32 zeros: programs done with each step, per batch block
    t0,  # first step of this launch (0 when PERSISTENT)
    T,  # steps
    B,  # batch rows
    H: tl.constexpr,
    HAS_LENGTHS: tl.constexpr,
    BLOCK_B: tl.constexpr,  # batch rows per program: the MMA's N
    BLOCK_H: tl.constexpr,  # hidden units per program: the MMA's M is 4·BLOCK_H
    BLOCK_K: tl.constexpr,  # next power of two >= H: the MMA's K
    INTERPRET_BF16: tl.constexpr,
    PRECISION: tl.constexpr,
    PERSISTENT: tl.constexpr,  # all T steps with the counter; False: step t0 only, no waiting
):
    pid_b = tl.program_id(0)
    num_p = tl.num_programs(1)
    rows = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)  # batch rows: columns of every tile here
    row_ok = rows < B
    units = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    state_mask = (units < H)[:, None] & row_ok[None, :]
    state_offs = rows[None, :] * H + units[:, None]  # (BLOCK_H, BLOCK_B) of a (B, H) tensor, transposed
    slot = tl.arange(0, 4 * BLOCK_H)  # the stacked gate slice: gate slot // BLOCK_H, unit slot % BLOCK_H
    w_rows = (slot // BLOCK_H) * H + tl.program_id(1) * BLOCK_H + slot % BLOCK_H  # rows of W_hh (4H, H)
    w_rows_ok = (tl.program_id(1) * BLOCK_H + slot % BLOCK_H) < H
    gate_offs = rows[None, :] * (4 * H) + w_rows[:, None]  # (4·BLOCK_H, BLOCK_B) of a (B, 4H) tensor
    gate_mask = w_rows_ok[:, None] & row_ok[None, :]
    ks = tl.arange(0, BLOCK_K)
    k_ok = ks < H
    # W_hh slice, loaded once: it stays on chip for every step of this launch
    w = tl.load(w_ptr + w_rows[:, None] * H + ks[None, :], mask=w_rows_ok[:, None] & k_ok[None, :], other=0.0)
    h_offs = rows[None, :] * H + ks[:, None]  # (BLOCK_K, BLOCK_B): h_{t-1}ᵀ
    h_mask = k_ok[:, None] & row_ok[None, :]
    dt = hs_ptr.dtype.element_ty
    if HAS_LENGTHS:
        lens = tl.load(len_ptr + rows, mask=row_ok, other=0)
    else:
        lens = tl.full((BLOCK_B,), T, tl.int32)
    h_keep = tl.load(h_state_ptr + state_offs, mask=state_mask, other=0.0)
    c = tl.load(c_state_ptr + state_offs, mask=state_mask, other=0.0)
    if PERSISTENT:
        t_end = T
    else:
        t_end = t0 + 1
    p_t = _load_pre_t(pre_ptr, t0, B, gate_offs, gate_mask, H)
    for t in range(t0, t_end):
        p_next = _load_pre_t(pre_ptr, tl.minimum(t + 1, T - 1), B, gate_offs, gate_mask, H)  # prefetch P_{t+1}
        if PERSISTENT:  # every program of this batch block has stored h_{t-1}
            wait_for(count_ptr + pid_b, num_p * t)
        h_t = tl.load(hs_ptr + t * B * H + h_offs, mask=h_mask, other=0.0, cache_modifier=".cg")
        acc = dot(w, h_t, p_t.to(tl.float32), INTERPRET_BF16, PRECISION)  # (4·BLOCK_H, BLOCK_B)
        a_i, a_f, a_g, a_o = _gate_rows(acc, BLOCK_H, BLOCK_B)
        i, f, g, o, c_new, h_new = cell_forward(a_i, a_f, a_g, a_o, c, c, c, c, c, c, state_mask, H, False, False,
                                                False)
        active = (t < lens)[None, :]
        tl.store(hs_ptr + (t + 1) * B * H + state_offs, to_output(h_new, active, dt, INTERPRET_BF16), mask=state_mask)
        tl.store(cells_ptr + t * B * H + state_offs, to_output(c_new, active, dt, INTERPRET_BF16), mask=state_mask)
        gates_t = gates_ptr + t * B * 4 * H + rows[None, :] * (4 * H) + units[:, None]
        tl.store(gates_t, to_output(i, active, dt, INTERPRET_BF16), mask=state_mask)
        tl.store(gates_t + H, to_output(f, active, dt, INTERPRET_BF16), mask=state_mask)
        tl.store(gates_t + 2 * H, to_output(g, active, dt, INTERPRET_BF16), mask=state_mask)
        tl.store(gates_t + 3 * H, to_output(o, active, dt, INTERPRET_BF16), mask=state_mask)
        h_keep = tl.where(active, cast(h_new, dt, INTERPRET_BF16), h_keep)
        c = tl.where(active, c_new, c)
        if PERSISTENT:  # h_t of this slice is stored: release it to the other programs
            signal_step(count_ptr + pid_b)
        p_t = p_next
    tl.store(h_state_ptr + state_offs, h_keep, mask=state_mask)
    tl.store(c_state_ptr + state_offs, c, mask=state_mask)
