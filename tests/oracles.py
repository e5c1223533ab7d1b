"""Oracles shared by test modules: the LSTM written step by step from the papers in float64, autograd through
Python (no lstmkit code), against which the layer, its variants and the benchmark's baselines are compared."""

import torch

EPS = 1e-5


def plain_ln(v, gain, bias=None):
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    out = (v - mean) / torch.sqrt(var + EPS) * gain
    return out if bias is None else out + bias


def plain_layer(x, p, h, c, *, ln=False, zc=None, zh=None, dm=None, wmask=None, resets=None, lengths=None):
    """One layer, one direction, written step by step from the papers. p: dict of this layer's parameters.

    Zoneout as Krueger et al. 2016 (§3.1, and their ZoneoutWrapper): ``ĉ_t = f ⊙ c_{t-1} + i ⊙ g``,
    ``c_t = z_c ⊙ c_{t-1} + (1 − z_c) ⊙ ĉ_t``, ``h_t = z_h ⊙ h_{t-1} + (1 − z_h) ⊙ (o ⊙ tanh(ĉ_t))``: the output
    uses the new cell before zoneout, the zoned c_t is carried. LayerNorm LSTM as Ba et al. 2016 (LN of the cell
    inside the tanh, here of ĉ_t)."""
    steps, batch, _ = x.shape
    w_hh = p["weight_hh"] * wmask if wmask is not None else p["weight_hh"]
    b = p["bias_ih"] + p["bias_hh"]
    ys = []
    for t in range(steps):
        active = (torch.arange(batch) < batch) if lengths is None else (t < lengths)
        active = active.unsqueeze(-1)
        h_in, c_in = h, c
        if resets is not None:
            h_in = torch.where(resets[t].unsqueeze(-1), torch.zeros_like(h), h)
            c_in = torch.where(resets[t].unsqueeze(-1), torch.zeros_like(c), c)
        hd = h_in * dm if dm is not None else h_in
        px, r = x[t] @ p["weight_ih"].T, hd @ w_hh.T
        if ln:
            a = plain_ln(px, p["layer_norm_ih"]) + plain_ln(r, p["layer_norm_hh"]) + b
        else:
            a = px + r + b
        ai, af, ag, ao = a.chunk(4, -1)
        i, f, g, o = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag), torch.sigmoid(ao)
        c_hat = f * c_in + i * g
        c_new = zc[t] * c_in + (1 - zc[t]) * c_hat if zc is not None else c_hat
        c_out = plain_ln(c_hat, p["layer_norm_c_weight"], p["layer_norm_c_bias"]) if ln else c_hat
        h_hat = o * torch.tanh(c_out)
        if "weight_hr" in p:
            h_hat = h_hat @ p["weight_hr"].T
        h_new = zh[t] * h_in + (1 - zh[t]) * h_hat if zh is not None else h_hat
        ys.append(torch.where(active, h_new, torch.zeros_like(h_new)))
        h = torch.where(active, h_new, h)
        c = torch.where(active, c_new, c)
    return torch.stack(ys), h, c


def layer_params(module, sfx="_l0"):
    return {name[: -len(sfx)]: prm for name, prm in module.named_parameters() if name.endswith(sfx)}
