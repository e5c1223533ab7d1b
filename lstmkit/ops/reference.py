"""Reference LSTM recurrence: plain PyTorch, hand-written backward (DESIGN §2).

Only the sequential part lives here. The input projection ``P = X W_ihᵀ + b`` is one large GEMM
done by the caller (autograd differentiates it as GEMMs). Each loop step issues a handful of tensor ops
on whole ``(B, 4H)`` slabs; the activation derivatives, which do not depend on the recurrence, are
computed for all timesteps at once before the backward loop (one fused pass each), and ``dW_hh`` is
accumulated per step (no (T, B, R) copy of the states for one (T·B)-deep GEMM).
On CPU the time is mostly the GEMMs: docs/BENCHMARKS.md compares it with an autograd loop.

Variable lengths: the caller sorts the batch by length (non-increasing), so at step ``t`` exactly
the first ``batch_sizes[t]`` rows are active (as in a PackedSequence). Inactive rows are never
touched: their outputs stay zero and their state stays at their last valid step.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


def batch_sizes_from_lengths(lengths: Tensor | None, steps: int, batch: int) -> list[int]:
    """Active rows per step for lengths sorted non-increasing (``None``: all rows, every step)."""
    if lengths is None:
        return [batch] * steps
    counts = torch.bincount(lengths.to("cpu", torch.int64), minlength=steps + 1)
    # rows with length > t  ==  batch - (rows with length <= t)
    return (batch - torch.cumsum(counts, 0)[:steps]).tolist()


def last_step(seq: Tensor, lengths: Tensor | None) -> Tensor:
    """``seq[len_b - 1, b]`` for every row b; seq is (T, B, F)."""
    if lengths is None:
        return seq[-1]
    idx = (lengths.to(seq.device, torch.int64) - 1).view(1, -1, 1).expand(1, -1, seq.shape[-1])
    return seq.gather(0, idx).squeeze(0)


def per_step(x: Tensor | None, sizes: list[int]) -> list[Tensor | None]:
    """``x`` (T, B, ·) as one view per step of the rows still active (one ``unbind`` instead of T indexings:
    a view costs ~2 µs of Python, as much as the small elementwise ops around it). ``None`` gives Nones."""
    if x is None:
        return [None] * len(sizes)
    batch = x.shape[1]
    return [v if n == batch else v[:n] for v, n in zip(x.unbind(0), sizes)]


def activation_derivatives(gates: Tensor, tanh_c: Tensor, cells: Tensor, c0: Tensor,
                           resets: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """For all steps at once (nothing here depends on the recurrence), one fused pass each: ``dh/da_o =
    tanh_c·o(1-o)``, ``dh/d(tanh's input) = o(1 - tanh_c²)`` (T,B,H) and ``dc/da_{i,f,g}`` (T,B,3,H), where
    ``tanh_c`` is tanh of what the output gate sees and the entering cell is ``c0`` then ``cells[:-1]`` (zeroed
    where ``resets``), read in place rather than concatenated."""
    steps, batch, four_h = gates.shape
    hid = four_h // 4
    aten = torch.ops.aten
    i, f, g, o = gates.split(hid, dim=-1)
    coef_o = aten.sigmoid_backward(tanh_c, o)
    coef_c = aten.tanh_backward(o, tanh_c)
    coef_ifg = gates.new_empty(steps, batch, 3, hid)
    aten.sigmoid_backward.grad_input(g, i, grad_input=coef_ifg[:, :, 0])  # g·i(1-i)
    aten.sigmoid_backward.grad_input(c0, f[0], grad_input=coef_ifg[0, :, 1])  # c_{t-1}·f(1-f)
    aten.sigmoid_backward.grad_input(cells[:-1], f[1:], grad_input=coef_ifg[1:, :, 1])
    if resets is not None:
        coef_ifg[:, :, 1] *= (~resets).unsqueeze(-1).to(gates.dtype)
    aten.tanh_backward.grad_input(i, g, grad_input=coef_ifg[:, :, 2])  # i·(1-g²)
    return coef_o, coef_c, coef_ifg


def recurrence_forward(
    pre: Tensor,  # (T, B, 4H) input projection plus both biases
    w_hh: Tensor,  # (4H, R) R = proj_size or H
    h0: Tensor,  # (B, R)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None,  # (R, H) or None
    lengths: Tensor | None,  # (B,) int, sorted non-increasing, 1 <= len <= T
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Returns ``y (T,B,R), h_n (B,R), c_n (B,H)`` and, for backward, ``gates (T,B,4H)``
    (after their activations, order i, f, g, o) and ``cells (T,B,H)``."""
    steps, batch, four_h = pre.shape
    hid = four_h // 4
    sizes = batch_sizes_from_lengths(lengths, steps, batch)
    pre = pre.contiguous()
    y = pre.new_zeros(steps, batch, h0.shape[1])
    gates = pre.new_zeros(steps, batch, four_h)
    cells = pre.new_zeros(steps, batch, hid)
    w_hh_t = w_hh.t()
    w_hr_t = w_hr.t() if w_hr is not None else None
    pre_rows, gate_rows, cell_rows, y_rows = (per_step(v, sizes) for v in (pre, gates, cells, y))
    # each step's gate blocks as ready-made views (i and f share one sigmoid): no slicing inside the loop
    bounds = ((0, 2 * hid), (0, hid), (hid, 2 * hid), (2 * hid, 3 * hid), (3 * hid, four_h))
    if_rows, i_rows, f_rows, g_rows, o_rows = (per_step(gates[..., a:b], sizes) for a, b in bounds)
    h_prev, c_prev = h0, c0
    for t, n in enumerate(sizes):
        torch.addmm(pre_rows[t], h_prev if h_prev.shape[0] == n else h_prev[:n], w_hh_t, out=gate_rows[t])
        if_rows[t].sigmoid_()
        g_rows[t].tanh_()
        o_rows[t].sigmoid_()
        i, f, g, o = i_rows[t], f_rows[t], g_rows[t], o_rows[t]
        c = torch.mul(f, c_prev if c_prev.shape[0] == n else c_prev[:n], out=cell_rows[t]).addcmul_(i, g)
        if w_hr_t is None:
            torch.mul(o, c.tanh(), out=y_rows[t])
        else:
            torch.mm(o * c.tanh(), w_hr_t, out=y_rows[t])
        # rows active at t are a prefix of those active at t-1: the next step reads at most these n rows
        h_prev, c_prev = y_rows[t], c
    return y, last_step(y, lengths), last_step(cells, lengths), gates, cells


def recurrence_backward(
    grad_y: Tensor,  # (T, B, R)
    grad_h_n: Tensor,  # (B, R)
    grad_c_n: Tensor,  # (B, H)
    gates: Tensor,  # (T, B, 4H) saved by forward
    cells: Tensor,  # (T, B, H) saved by forward
    y: Tensor,  # (T, B, R) forward output
    w_hh: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_hr: Tensor | None,
    lengths: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """Returns ``d_pre (T,B,4H), d_w_hh (4H,R), d_h0 (B,R), d_c0 (B,H), d_w_hr (R,H) or None``."""
    steps, batch, four_h = gates.shape
    hid = four_h // 4
    sizes = batch_sizes_from_lengths(lengths, steps, batch)
    o, f = gates[..., 3 * hid :], gates[..., hid : 2 * hid]
    tanh_c = cells.tanh()
    coef_o, coef_c, coef_ifg = activation_derivatives(gates, tanh_c, cells, c0)
    grad_y = grad_y.contiguous()
    d_pre = torch.zeros_like(gates)
    d_hidden = torch.zeros_like(y) if w_hr is not None else None  # dL/dh_t before dW_hr
    rows = functools.partial(per_step, sizes=sizes)
    gy_rows, o_coef_rows, c_coef_rows, ifg_coef_rows, f_rows = (
        rows(v) for v in (grad_y, coef_o, coef_c, coef_ifg, f))
    dpre_rows, dpre_o_rows = rows(d_pre), rows(d_pre[..., 3 * hid :])
    dpre_ifg_rows, hidden_rows = rows(d_pre[..., : 3 * hid].unflatten(-1, (3, hid))), rows(d_hidden)
    h_enter_rows = [h0] + rows(y)[:-1]  # for d_w_hh, accumulated per step: no (T, B, R) concatenation
    d_w_hh = w_hh.new_zeros(w_hh.shape)
    d_h = grad_h_n.clone()  # rows not yet active (in reverse time) keep dh_n / dc_n
    d_c = grad_c_n.clone()
    for t in range(steps - 1, -1, -1):
        n = sizes[t]
        dh = d_h[:n] if n < batch else d_h
        dh.add_(gy_rows[t])
        if w_hr is not None:
            hidden_rows[t].copy_(dh)
            dh = dh @ w_hr
        torch.mul(dh, o_coef_rows[t], out=dpre_o_rows[t])
        dc = (d_c[:n] if n < batch else d_c).addcmul_(dh, c_coef_rows[t])
        torch.mul(ifg_coef_rows[t], dc.unsqueeze(1), out=dpre_ifg_rows[t])
        dc.mul_(f_rows[t])
        h_enter = h_enter_rows[t]
        d_w_hh.addmm_(dpre_rows[t].t(), h_enter if h_enter.shape[0] == n else h_enter[:n])
        torch.mm(dpre_rows[t], w_hh, out=d_h[:n] if n < batch else d_h)
    d_w_hr = None
    if w_hr is not None:
        hidden = o * tanh_c
        d_w_hr = d_hidden.reshape(-1, d_hidden.shape[-1]).t() @ hidden.reshape(-1, hid)
    return d_pre, d_w_hh, d_h, d_c, d_w_hr
