"""Reference recurrence for the LSTM variants cuDNN cannot run (DESIGN §4), hand-written backward.

One step, for the rows still inside their sequence (``~`` marks the state entering the step, zeroed
where ``resets[t]``; ``m`` the recurrent-dropout mask; ``z`` zoneout masks in training, the rates
themselves in eval)::

    h~, c~ = (0, 0) if resets[t] else (h_{t-1}, c_{t-1})
    r      = (m ⊙ h~) W_hhᵀ                          # (B, 4H)
    a      = pre_t + LN_h(r)                         # pre_t = LN_x(x_t W_ihᵀ) + b, done by the caller
    ĉ      = f ⊙ c~ + i ⊙ g
    c_t    = z_c ⊙ c~ + (1 - z_c) ⊙ ĉ                 # the unnormalised c_t is carried
    ĥ      = (o ⊙ tanh(LN_c(c_t))) [W_hrᵀ]
    h_t    = z_h ⊙ h~ + (1 - z_h) ⊙ ĥ = y_t

``LN_h`` has a gain only (the bias b plays that role), ``LN_c`` a gain and a bias; ε = 1e-5. Every
feature is optional (``None``). Forward keeps ``r`` and the LayerNorm statistics (mean, rstd) it computed,
so backward neither repeats the recurrent GEMM nor the reductions; backward returns the weight gradients as
GEMMs/reductions after the loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.ops.reference import batch_sizes_from_lengths, last_step

EPS = 1e-5


class Normalized:
    """LayerNorm statistics of ``x`` (..., F) for a backward pass: the input, mean and rstd as aten's fused
    ``native_layer_norm_backward`` wants them (one kernel per step instead of seven elementwise ops).
    ``mean`` / ``rstd`` (..., 1) saved by the forward pass skip the reduction; ``hat`` is computed on demand."""

    def __init__(self, x: Tensor, mean: Tensor | None = None, rstd: Tensor | None = None) -> None:
        if mean is None or rstd is None:
            var, mean = torch.var_mean(x, dim=-1, unbiased=False, keepdim=True)
            rstd = torch.rsqrt(var + EPS)
        self.x, self.mean, self.rstd = x, mean, rstd

    @property
    def hat(self) -> Tensor:
        return (self.x - self.mean) * self.rstd

    def backward(self, grad_out: Tensor, weight: Tensor, t: int, n: int, bias: Tensor | None = None
                 ) -> tuple[Tensor, Tensor, Tensor | None]:
        """At step t, rows [:n], given dL/d(LN(x)) with gain ``weight`` (and ``bias``): dL/dx and these rows' parts
        of dL/dweight (and dL/dbias; else None), all from one fused kernel."""
        return torch.ops.aten.native_layer_norm_backward(
            grad_out, self.x[t, :n], self.x.shape[-1:], self.mean[t, :n], self.rstd[t, :n], weight, bias,
            [True, True, bias is not None])


def entering_states(seq: Tensor, initial: Tensor, resets: Tensor | None) -> Tensor:
    """The state entering every step (T, B, ·): ``initial`` then ``seq[:-1]``, zeroed where ``resets``."""
    before = torch.cat([initial.unsqueeze(0), seq[:-1]])
    if resets is not None:
        before = before * (~resets).unsqueeze(-1).to(before.dtype)
    return before


def variant_forward(
    pre: Tensor,  # (T, B, 4H): LN_x(x W_ihᵀ) + b
    w_hh: Tensor,  # (4H, R)
    h0: Tensor,  # (B, R)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None,  # (R, H)
    lengths: Tensor | None,  # (B,) sorted non-increasing
    ln_h_weight: Tensor | None,  # (4H,)
    ln_c_weight: Tensor | None,  # (H,)
    ln_c_bias: Tensor | None,  # (H,)
    zoneout_c: Tensor | None,  # (T, B, H) probabilities of keeping c~ (0/1 masks in training)
    zoneout_h: Tensor | None,  # (T, B, R)
    dropout_mask: Tensor | None,  # (B, R) recurrent dropout, values 0 or 1/(1-p)
    resets: Tensor | None,  # (T, B) bool
    for_backward: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Returns ``y, h_n, c_n, gates (activated, T,B,4H), cells (carried c_t, T,B,H), norm_input, norm_stats``.

    The last two are what backward would otherwise recompute: ``r`` (T,B,4H) when ``ln_h_weight`` is given,
    and the LayerNorm statistics (4,T,B,1): mean and rstd of ``r``, then of ``c_t`` (empty when unused).
    ``for_backward=False`` (inference): the same ``y, h_n, c_n``, but the last four are empty: gates, ``r`` and the cell
    live in one step's scratch instead of (T, B, ·) buffers that would be first touched on every call.
    """
    steps, batch, four_h = pre.shape
    hid = four_h // 4
    # every row is written at every step unless lengths end some early: zero-fill only then
    alloc = pre.new_empty if lengths is None else pre.new_zeros
    y = alloc(steps, batch, h0.shape[1])
    has_ln = ln_h_weight is not None or ln_c_weight is not None
    if for_backward:
        gates, cells = alloc(steps, batch, four_h), alloc(steps, batch, hid)
        norm_input = alloc(steps, batch, four_h) if ln_h_weight is not None else pre.new_empty(0)
        stats = alloc(4, steps, batch, 1) if has_ln else pre.new_empty(0)
    else:  # one step's worth, reused; the cell state lives in c_state (rows that end early keep their last c)
        gates, norm_input, stats = pre.new_empty(1, batch, four_h), pre.new_empty(1, batch, four_h), None
        cells, c_state = pre.new_empty(1, batch, hid), c0.clone()
    plain_h = w_hr is None and zoneout_h is None  # h_t can be written straight into y
    h_prev, c_prev = h0, c0
    for t, n in enumerate(batch_sizes_from_lengths(lengths, steps, batch)):
        s = t if for_backward else 0  # the step's slot in gates / cells / norm_input
        h_in, c_in = h_prev[:n], c_prev[:n]
        if resets is not None:
            keep = (~resets[t, :n]).unsqueeze(-1).to(pre.dtype)
            h_in, c_in = h_in * keep, c_in * keep
        h_rec = h_in * dropout_mask[:n] if dropout_mask is not None else h_in
        a = gates[s, :n]
        if ln_h_weight is not None:
            r = norm_input[s, :n]
            torch.mm(h_rec, w_hh.t(), out=r)
            r, mean, rstd = torch.native_layer_norm(r, (four_h,), ln_h_weight, None, EPS)
            if for_backward:
                stats[0, t, :n], stats[1, t, :n] = mean, rstd
            torch.add(pre[t, :n], r, out=a)
        else:
            torch.addmm(pre[t, :n], h_rec, w_hh.t(), out=a)
        a[:, : 2 * hid].sigmoid_()
        a[:, 2 * hid : 3 * hid].tanh_()
        a[:, 3 * hid :].sigmoid_()
        i, f, g, o = a.split(hid, dim=-1)
        c = cells[s, :n]
        torch.mul(f, c_in, out=c).addcmul_(i, g)
        if zoneout_c is not None:
            c.lerp_(c_in, zoneout_c[t, :n])
        if not for_backward:
            c = c_state[:n].copy_(c)
        if ln_c_weight is not None:
            c, mean, rstd = torch.native_layer_norm(c, (hid,), ln_c_weight, ln_c_bias, EPS)
            if for_backward:
                stats[2, t, :n], stats[3, t, :n] = mean, rstd
        if plain_h:
            torch.mul(o, c.tanh(), out=y[t, :n])
        else:
            h = o * c.tanh()
            if w_hr is not None:
                h = h @ w_hr.t()
            if zoneout_h is not None:
                h = torch.lerp(h, h_in, zoneout_h[t, :n])
            y[t, :n] = h
        h_prev, c_prev = y[t], (cells[t] if for_backward else c_state)
    if not for_backward:
        none = pre.new_empty(0)
        return y, last_step(y, lengths), c_state, none, none, none, none
    return y, last_step(y, lengths), last_step(cells, lengths), gates, cells, norm_input, stats


def variant_backward(
    grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths,
    ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets, *, saved,
):
    """Returns ``d_pre, d_w_hh, d_h0, d_c0, d_w_hr, d_ln_h_weight, d_ln_c_weight, d_ln_c_bias``
    (``None`` for the features not in use). ``saved``: ``variant_forward``'s ``(norm_input, norm_stats)``."""
    steps, batch, four_h = gates.shape
    hid = four_h // 4
    i, f, g, o = gates.split(hid, dim=-1)
    h_in, c_in = entering_states(y, h0, resets), entering_states(cells, c0, resets)
    h_dropped = h_in * dropout_mask if dropout_mask is not None else h_in
    norm_input, stats = saved
    if ln_h_weight is not None:
        r_norm = Normalized(norm_input, stats[0], stats[1])
    if ln_c_weight is not None:
        c_stats = Normalized(cells, stats[2], stats[3])
        c_norm = c_stats.hat * ln_c_weight + ln_c_bias
    else:
        c_norm = cells
    tanh_c = c_norm.tanh()
    coef_o = tanh_c * o * (1 - o)
    coef_c = o * (1 - tanh_c * tanh_c)
    keep_c = 1 - zoneout_c if zoneout_c is not None else None
    keep_h = 1 - zoneout_h if zoneout_h is not None else None
    coef_ifg = torch.cat([g * i * (1 - i), c_in * f * (1 - f), i * (1 - g * g)], dim=-1)

    alloc = torch.empty_like if lengths is None else torch.zeros_like  # see variant_forward
    d_pre = alloc(gates)
    d_r = alloc(gates) if ln_h_weight is not None else d_pre
    d_hidden = alloc(y) if w_hr is not None else None
    # the LayerNorm gain/bias gradients, summed from each step's rows (the fused per-step backward returns them)
    d_ln_h = torch.zeros_like(ln_h_weight) if ln_h_weight is not None else None
    d_ln_c = torch.zeros_like(ln_c_weight) if ln_c_weight is not None else None
    d_ln_c_bias = torch.zeros_like(ln_c_bias) if ln_c_weight is not None else None
    d_h, d_c = grad_h_n.clone(), grad_c_n.clone()
    sizes = batch_sizes_from_lengths(lengths, steps, batch)
    for t in range(steps - 1, -1, -1):
        n = sizes[t]
        dh = d_h[:n] + grad_y[t, :n]
        carry_h = dh * zoneout_h[t, :n] if zoneout_h is not None else None
        dh_hat = dh * keep_h[t, :n] if zoneout_h is not None else dh
        if w_hr is not None:
            d_hidden[t, :n] = dh_hat
            dh_hat = dh_hat @ w_hr
        da = d_pre[t, :n]
        torch.mul(dh_hat, coef_o[t, :n], out=da[:, 3 * hid :])
        dcn = dh_hat * coef_c[t, :n]
        if ln_c_weight is not None:
            dcn, d_weight, d_bias = c_stats.backward(dcn, ln_c_weight, t, n, ln_c_bias)
            d_ln_c += d_weight
            d_ln_c_bias += d_bias
        dc = d_c[:n] + dcn
        dc_hat = dc * keep_c[t, :n] if zoneout_c is not None else dc
        torch.mul(coef_ifg[t, :n].view(n, 3, hid), dc_hat.unsqueeze(1), out=da[:, : 3 * hid].view(n, 3, hid))
        carry_c = dc_hat * f[t, :n]
        if zoneout_c is not None:
            carry_c += dc * zoneout_c[t, :n]
        dr = da
        if ln_h_weight is not None:
            dr, d_weight, _ = r_norm.backward(da, ln_h_weight, t, n)
            d_ln_h += d_weight
            d_r[t, :n] = dr
        dh_prev = dr @ w_hh
        if dropout_mask is not None:
            dh_prev = dh_prev * dropout_mask[:n]
        if carry_h is not None:
            dh_prev = dh_prev + carry_h
        if resets is not None:
            keep = (~resets[t, :n]).unsqueeze(-1).to(dh_prev.dtype)
            dh_prev, carry_c = dh_prev * keep, carry_c * keep
        d_h[:n] = dh_prev
        d_c[:n] = carry_c

    d_w_hh = d_r.reshape(-1, four_h).t() @ h_dropped.reshape(-1, h_dropped.shape[-1])
    d_w_hr = None
    if w_hr is not None:
        hidden = o * tanh_c
        d_w_hr = d_hidden.reshape(-1, d_hidden.shape[-1]).t() @ hidden.reshape(-1, hid)
    return d_pre, d_w_hh, d_h, d_c, d_w_hr, d_ln_h, d_ln_c, d_ln_c_bias
