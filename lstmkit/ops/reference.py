"""Reference LSTM recurrence: plain PyTorch, hand-written backward (DESIGN §2).

Only the sequential part lives here. The input projection ``P = X W_ihᵀ + b`` is one large GEMM
done by the caller (autograd differentiates it as GEMMs), and the weight gradient ``dW_hh`` is one
GEMM after the backward loop. Each loop step issues a handful of tensor ops on whole ``(B, 4H)``
slabs; everything that does not depend on the recurrence (activation derivatives) is computed for
all timesteps at once before the backward loop, which is what makes this ~3× faster than an autograd
loop over time.

Variable lengths: the caller sorts the batch by length (non-increasing), so at step ``t`` exactly
the first ``batch_sizes[t]`` rows are active (as in a PackedSequence). Inactive rows are never
touched: their outputs stay zero and their state stays at their last valid step.
"""

from __future__ import annotations

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
    pre = pre.contiguous()
    y = pre.new_zeros(steps, batch, h0.shape[1])
    gates = pre.new_zeros(steps, batch, four_h)
    cells = pre.new_zeros(steps, batch, hid)
    w_hh_t = w_hh.t()
    w_hr_t = w_hr.t() if w_hr is not None else None
    h_prev, c_prev = h0, c0
    for t, n in enumerate(batch_sizes_from_lengths(lengths, steps, batch)):
        a = gates[t, :n]
        torch.addmm(pre[t, :n], h_prev[:n], w_hh_t, out=a)
        a[:, : 2 * hid].sigmoid_()
        a[:, 2 * hid : 3 * hid].tanh_()
        a[:, 3 * hid :].sigmoid_()
        c = cells[t, :n]
        torch.mul(a[:, hid : 2 * hid], c_prev[:n], out=c)
        c.addcmul_(a[:, :hid], a[:, 2 * hid : 3 * hid])
        if w_hr_t is None:
            torch.mul(a[:, 3 * hid :], c.tanh(), out=y[t, :n])
        else:
            torch.mm(a[:, 3 * hid :] * c.tanh(), w_hr_t, out=y[t, :n])
        # rows active at t are a prefix of those active at t-1, so y[t]/cells[t] serve as the state
        h_prev, c_prev = y[t], cells[t]
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
    i, f, g, o = gates.split(hid, dim=-1)
    c_before = torch.cat([c0.unsqueeze(0), cells[:-1]])
    tanh_c = cells.tanh()
    # activation derivatives for all steps at once (nothing here depends on the recurrence)
    coef_ifg = torch.cat([g * i * (1 - i), c_before * f * (1 - f), i * (1 - g * g)], dim=-1)
    coef_o = tanh_c * o * (1 - o)  # d a_o / d h
    coef_c = o * (1 - tanh_c * tanh_c)  # d c / d h
    grad_y = grad_y.contiguous()
    d_pre = torch.zeros_like(gates)
    d_h = grad_h_n.clone()  # rows not yet active (in reverse time) keep dh_n / dc_n
    d_c = grad_c_n.clone()
    d_hidden = torch.zeros_like(y) if w_hr is not None else None  # dL/dh_t before dW_hr
    sizes = batch_sizes_from_lengths(lengths, steps, batch)
    for t in range(steps - 1, -1, -1):
        n = sizes[t]
        dh = d_h[:n]
        dh.add_(grad_y[t, :n])
        if w_hr is not None:
            d_hidden[t, :n] = dh
            dh = dh @ w_hr
        da = d_pre[t, :n]
        torch.mul(dh, coef_o[t, :n], out=da[:, 3 * hid :])
        dc = d_c[:n]
        dc.addcmul_(dh, coef_c[t, :n])
        torch.mul(coef_ifg[t, :n].view(n, 3, hid), dc.unsqueeze(1), out=da[:, : 3 * hid].view(n, 3, hid))
        dc.mul_(f[t, :n])
        torch.mm(da, w_hh, out=d_h[:n])
    h_before = torch.cat([h0.unsqueeze(0), y[:-1]])
    d_w_hh = d_pre.reshape(-1, four_h).t() @ h_before.reshape(-1, h_before.shape[-1])
    d_w_hr = None
    if w_hr is not None:
        hidden = o * tanh_c
        d_w_hr = d_hidden.reshape(-1, d_hidden.shape[-1]).t() @ hidden.reshape(-1, hid)
    return d_pre, d_w_hh, d_h, d_c, d_w_hr
