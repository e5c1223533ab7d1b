"""Reference recurrence for the LSTM variants cuDNN cannot run (DESIGN §4), hand-written backward.

One step, for the rows still inside their sequence (``~`` marks the state entering the step, zeroed
where ``resets[t]``; ``m`` the recurrent-dropout mask; ``z`` zoneout masks in training, the rates
themselves in eval)::

    h~, c~ = (0, 0) if resets[t] else (h_{t-1}, c_{t-1})
    r      = (m ⊙ h~) W_hhᵀ                          # (B, 4H)
    a      = pre_t + LN_h(r)                         # pre_t = LN_x(x_t W_ihᵀ) + b, done by the caller
    ĉ      = f ⊙ c~ + i ⊙ g                            # the new cell, before zoneout
    c_t    = z_c ⊙ c~ + (1 - z_c) ⊙ ĉ                 # the zoned, unnormalised c_t is carried
    ĥ      = (o ⊙ tanh(LN_c(ĉ))) [W_hrᵀ]              # the output sees ĉ (Krueger et al. 2016, §3.1)
    h_t    = z_h ⊙ h~ + (1 - z_h) ⊙ ĥ = y_t

``LN_h`` has a gain only (the bias b plays that role), ``LN_c`` a gain and a bias; ε = 1e-5. Every
feature is optional (``None``). Forward keeps ``r`` and the LayerNorm statistics (mean, rstd) it computed,
so backward neither repeats the recurrent GEMM nor the reductions; backward accumulates dW_hh and the LayerNorm
gain/bias gradients step by step (no (T, B, ·) buffer of dL/dr) and forms dL/dW_hr with one GEMM after the loop.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from lstmkit.ops.reference import activation_derivatives, batch_sizes_from_lengths, last_step, per_step

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


def candidate_cells(gates: Tensor, cells: Tensor, c0: Tensor, resets: Tensor | None) -> Tensor:
    """``ĉ_t = f_t ⊙ c~_t + i_t ⊙ g_t`` (T, B, H) for all steps at once, from the activated gates (T, B, 4H), the
    carried cells (T, B, H) and ``c0`` (B, H): the new cell that the output saw before zoneout made ``c_t``."""
    i, f, g, _ = gates.chunk(4, dim=-1)
    return torch.addcmul(i * g, f, entering_states(cells, c0, resets))


def _stack_rows(parts: list[Tensor], like: Tensor) -> Tensor:
    """Per-step (n_t, ·) results as one (T, B, ·) tensor, rows past n_t zero (empty list: zeros)."""
    if not parts:
        return like.new_zeros(like.shape[0], like.shape[1], 1)
    if all(p.shape[0] == like.shape[1] for p in parts):
        return torch.stack(parts)
    # pad_sequence zero-fills all of its output first: only worth it when lengths end rows early
    return torch.nn.utils.rnn.pad_sequence(parts, batch_first=True, padding_value=0.0)


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
    and the LayerNorm statistics (4,T,B,1): mean and rstd of ``r``, then of ``ĉ_t`` (empty when unused).
    ``for_backward=False`` (inference): the same ``y, h_n, c_n``, but the last four are empty: gates, ``r`` and the cell
    live in one step's scratch instead of (T, B, ·) buffers that would be first touched on every call.
    """
    steps, batch, four_h = pre.shape
    hid = four_h // 4
    sizes = batch_sizes_from_lengths(lengths, steps, batch)
    # every row is written at every step unless lengths end some early: zero-fill only then
    alloc = pre.new_empty if lengths is None else pre.new_zeros
    y = alloc(steps, batch, h0.shape[1])
    if for_backward:
        gates, cells = alloc(steps, batch, four_h), alloc(steps, batch, hid)
        norm_input = alloc(steps, batch, four_h) if ln_h_weight is not None else pre.new_empty(0)
        slots = functools.partial(per_step, sizes=sizes)
    else:  # one step's worth, reused; the cell state lives in c_state (rows that end early keep their last c)
        gates, cells, c_state = pre.new_empty(batch, four_h), pre.new_empty(batch, hid), c0.clone()
        norm_input = pre.new_empty(batch, four_h) if ln_h_weight is not None else pre.new_empty(0)

        def slots(scratch):
            return [scratch if n == batch else scratch[:n] for n in sizes]

    gate_rows, cell_rows = slots(gates), slots(cells)
    r_rows = slots(norm_input) if ln_h_weight is not None else None
    # each step's gate blocks as ready-made views (i and f share one sigmoid): no slicing inside the loop
    bounds = ((0, 2 * hid), (0, hid), (hid, 2 * hid), (2 * hid, 3 * hid), (3 * hid, four_h))
    if_rows, i_rows, f_rows, g_rows, o_rows = (slots(gates[..., a:b]) for a, b in bounds)
    stats = ([], [], [], [])  # per step: mean and rstd of r, then of ĉ_t
    pre_rows, y_rows = per_step(pre, sizes), per_step(y, sizes)
    zc_rows, zh_rows, reset_rows = per_step(zoneout_c, sizes), per_step(zoneout_h, sizes), per_step(resets, sizes)
    plain_h = w_hr is None and zoneout_h is None  # h_t can be written straight into y
    w_hh_t = w_hh.t()
    h_prev, c_prev = h0, c0
    for t, n in enumerate(sizes):
        h_in = h_prev if h_prev.shape[0] == n else h_prev[:n]
        c_in = c_prev if c_prev.shape[0] == n else c_prev[:n]
        if resets is not None:
            keep = (~reset_rows[t]).unsqueeze(-1).to(pre.dtype)
            h_in, c_in = h_in * keep, c_in * keep
        h_rec = h_in * (dropout_mask if n == batch else dropout_mask[:n]) if dropout_mask is not None else h_in
        a = gate_rows[t]
        if ln_h_weight is not None:
            r = torch.mm(h_rec, w_hh_t, out=r_rows[t])
            r, mean, rstd = torch.native_layer_norm(r, (four_h,), ln_h_weight, None, EPS)
            stats[0].append(mean)
            stats[1].append(rstd)
            torch.add(pre_rows[t], r, out=a)
        else:
            torch.addmm(pre_rows[t], h_rec, w_hh_t, out=a)
        if_rows[t].sigmoid_()
        g_rows[t].tanh_()
        o_rows[t].sigmoid_()
        i, f, g, o = i_rows[t], f_rows[t], g_rows[t], o_rows[t]
        c_carried = torch.mul(f, c_in, out=cell_rows[t]).addcmul_(i, g)  # ĉ, zoned below once the output has it
        c = c_carried
        if ln_c_weight is not None:
            c, mean, rstd = torch.native_layer_norm(c, (hid,), ln_c_weight, ln_c_bias, EPS)
            stats[2].append(mean)
            stats[3].append(rstd)
        tanh_c = c.tanh()
        if zoneout_c is not None:
            c_carried.lerp_(c_in, zc_rows[t])
        if not for_backward:
            c_carried = c_state[:n].copy_(c_carried)
        if plain_h:
            torch.mul(o, tanh_c, out=y_rows[t])
        else:
            h = o * tanh_c
            if w_hr is not None:
                h = h @ w_hr.t()
            if zoneout_h is not None:
                h = torch.lerp(h, h_in, zh_rows[t])
            y_rows[t].copy_(h)
        # the next step reads at most these n rows (lengths are sorted); rows that ended keep theirs in the buffers
        h_prev, c_prev = y_rows[t], c_carried
    if not for_backward:
        none = pre.new_empty(0)
        return y, last_step(y, lengths), c_state, none, none, none, none
    norm_stats = (torch.stack([_stack_rows(part, pre) for part in stats])
                  if ln_h_weight is not None or ln_c_weight is not None else pre.new_empty(0))
    return y, last_step(y, lengths), last_step(cells, lengths), gates, cells, norm_input, norm_stats


def variant_backward(
    grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths,
    ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets, *, saved,
):
    """Returns ``d_pre, d_w_hh, d_h0, d_c0, d_w_hr, d_ln_h_weight, d_ln_c_weight, d_ln_c_bias``
    (``None`` for the features not in use). ``saved``: ``variant_forward``'s ``(norm_input, norm_stats)``.

    The activation derivatives are formed over all steps at once before the loop (aten's fused
    ``sigmoid_backward`` / ``tanh_backward``, one pass each); the loop then does what depends on the carried
    gradient: ~6 small ops per step plus the fused LayerNorm backwards and the ``dA W_hh`` GEMM."""
    steps, batch, four_h = gates.shape
    hid = four_h // 4
    sizes = batch_sizes_from_lengths(lengths, steps, batch)
    aten = torch.ops.aten
    f, o = gates[..., hid : 2 * hid], gates[..., 3 * hid :]
    norm_input, stats = saved
    c_new = candidate_cells(gates, cells, c0, resets) if zoneout_c is not None else cells  # ĉ: what the output saw
    if ln_c_weight is not None:  # LN_c(ĉ_t) again from the saved statistics
        c_norm = (c_new - stats[2]).mul_(stats[3]).mul_(ln_c_weight).add_(ln_c_bias)
    else:
        c_norm = c_new
    tanh_c = c_norm.tanh_() if c_norm is not cells else c_norm.tanh()
    coef_o, coef_c, coef_ifg = activation_derivatives(gates, tanh_c, cells, c0, resets)

    alloc = torch.empty_like if lengths is None else torch.zeros_like  # see variant_forward
    d_pre = alloc(gates)
    d_hidden = alloc(y) if w_hr is not None else None
    rows = functools.partial(per_step, sizes=sizes)
    gy_rows, o_coef_rows, c_coef_rows, ifg_coef_rows = rows(grad_y), rows(coef_o), rows(coef_c), rows(coef_ifg)
    f_rows, dpre_o_rows = rows(f), rows(d_pre[..., 3 * hid :])
    dpre_ifg_rows = rows(d_pre[..., : 3 * hid].unflatten(-1, (3, hid)))
    zc_rows, zh_rows, reset_rows, hidden_rows = rows(zoneout_c), rows(zoneout_h), rows(resets), rows(d_hidden)
    keep_c_rows = rows(1 - zoneout_c if zoneout_c is not None else None)
    keep_h_rows = rows(1 - zoneout_h if zoneout_h is not None else None)
    dpre_rows = rows(d_pre)
    if ln_h_weight is not None:
        r_rows, r_mean_rows, r_rstd_rows = rows(norm_input), rows(stats[0]), rows(stats[1])
    if ln_c_weight is not None:
        c_rows, c_mean_rows, c_rstd_rows = rows(c_new), rows(stats[2]), rows(stats[3])
    # the state that entered each step's recurrent GEMM, for d_w_hh (accumulated per step: as fast as one
    # (T·B)-long GEMM here, and no (T, B, 4H) buffer of dL/dr)
    h_enter_rows = [h0] + rows(y)[:-1]
    d_w_hh = w_hh.new_zeros(w_hh.shape)
    d_ln_h, d_ln_c, d_ln_c_bias = [], [], []  # per step, summed after the loop
    d_h, d_c = grad_h_n, grad_c_n  # rebound while every row is active; rows that ended early keep theirs
    for t in range(steps - 1, -1, -1):
        n = sizes[t]
        dh = gy_rows[t] + (d_h if n == batch else d_h[:n])
        dh_hat = dh * keep_h_rows[t] if zoneout_h is not None else dh
        if w_hr is not None:
            hidden_rows[t].copy_(dh_hat)
            dh_hat = dh_hat @ w_hr
        torch.mul(dh_hat, o_coef_rows[t], out=dpre_o_rows[t])
        dcn = dh_hat * c_coef_rows[t]
        if ln_c_weight is not None:
            dcn, d_weight, d_bias = aten.native_layer_norm_backward(
                dcn, c_rows[t], (hid,), c_mean_rows[t], c_rstd_rows[t], ln_c_weight, ln_c_bias, [True, True, True])
            d_ln_c.append(d_weight)
            d_ln_c_bias.append(d_bias)
        dc = d_c if n == batch else d_c[:n]  # dL/dc_t, carried from t+1
        # c_t = z_c ⊙ c~ + (1 - z_c) ⊙ ĉ: dL/dĉ is the zoned share of dc plus the output's
        dc_hat = dcn + (dc * keep_c_rows[t] if zoneout_c is not None else dc)
        torch.mul(ifg_coef_rows[t], dc_hat.unsqueeze(1), out=dpre_ifg_rows[t])
        carry_c = dc_hat * f_rows[t]
        if zoneout_c is not None:
            carry_c += dc * zc_rows[t]
        dr = dpre_rows[t]
        if ln_h_weight is not None:
            dr, d_weight, _ = aten.native_layer_norm_backward(
                dr, r_rows[t], (four_h,), r_mean_rows[t], r_rstd_rows[t], ln_h_weight, None, [True, True, False])
            d_ln_h.append(d_weight)
        h_rec = h_enter_rows[t]
        h_rec = h_rec if h_rec.shape[0] == n else h_rec[:n]
        if resets is not None:
            keep = (~reset_rows[t]).unsqueeze(-1).to(dr.dtype)
            h_rec = h_rec * keep
        if dropout_mask is not None:
            h_rec = h_rec * (dropout_mask if n == batch else dropout_mask[:n])
        d_w_hh.addmm_(dr.t(), h_rec)
        dh_prev = dr @ w_hh
        if dropout_mask is not None:
            dh_prev *= dropout_mask if n == batch else dropout_mask[:n]
        if zoneout_h is not None:
            dh_prev += dh * zh_rows[t]
        if resets is not None:
            dh_prev *= keep
            carry_c *= keep
        if n == batch:
            d_h, d_c = dh_prev, carry_c
        else:
            if d_h is grad_h_n:  # first in-place write: keep the caller's gradient intact
                d_h, d_c = grad_h_n.clone(), grad_c_n.clone()
            d_h[:n], d_c[:n] = dh_prev, carry_c

    d_w_hr = None
    if w_hr is not None:
        hidden = o * tanh_c
        d_w_hr = d_hidden.reshape(-1, d_hidden.shape[-1]).t() @ hidden.reshape(-1, hid)
    return (d_pre, d_w_hh, d_h.clone() if d_h is grad_h_n else d_h, d_c.clone() if d_c is grad_c_n else d_c,
            d_w_hr, _total(d_ln_h, ln_h_weight), _total(d_ln_c, ln_c_weight), _total(d_ln_c_bias, ln_c_bias))


def _total(parts: list[Tensor], param: Tensor | None) -> Tensor | None:
    """The sum of the per-step parameter gradients (None for a parameter not in use)."""
    if param is None:
        return None
    return torch.stack(parts).sum(0) if parts else torch.zeros_like(param)
