"""Triton variant kernels (LayerNorm, zoneout, recurrent dropout, resets; DESIGN §4) vs the float64 reference.

The reference is ``lstmkit.ops.variants`` (backend ``"reference"``) run in float64 on the same inputs and masks.
Runs on the GPU where there is one, else under TRITON_INTERPRET=1 (set by conftest) on the CPU: tiny shapes.
Every kernel output is poisoned with NaN before each launch. Tolerances as tests/test_triton_vs_reference.py:
fp32 error ≤ 1e-4 relative to the reference's largest value; bf16 error ≤ 2× that of the reference backend run
in bf16, plus a small atol.
"""

from __future__ import annotations

import zlib

import pytest
import torch
from triton_helpers import (
    DEVICE,
    FEATURES,
    LN_NAMES,
    NAMES,
    check_vs_reference,
    make_inputs,
    rel_error,
    run_op,
    strict_kernels,
)

from lstmkit.nn import LSTM
from lstmkit.ops import available_backends, recurrence, resolve_backend

pytestmark = pytest.mark.skipif("triton" not in available_backends(), reason="triton backend not registered")

if "triton" in available_backends():

    from lstmkit.ops import triton_backend

_strict = pytest.fixture(autouse=True)(strict_kernels)


def _seed(*key) -> int:
    return zlib.crc32(repr(key).encode())


@pytest.mark.parametrize("strategy", ["step", "sequence"])
@pytest.mark.parametrize("name", list(FEATURES))
def test_each_variant_vs_reference(name, strategy):
    """Each variant alone, with lengths (a row that ends early, one of a single step) and H padded in its tile."""
    triton_backend.set_strategy(strategy)
    case = make_inputs(5, 3, 12, FEATURES[name], seed=_seed(name, strategy), lengths=[5, 3, 1])
    got = run_op("triton", torch.float32, *case)
    assert all(g.dtype == torch.float32 for g in got if g is not None)
    check_vs_reference(got, torch.float32, *case)


@pytest.mark.parametrize("strategy", ["step", "sequence"])
@pytest.mark.parametrize("shape", [(6, 3, 40, None), (4, 17, 40, [4] * 9 + [3] * 5 + [2, 1, 1]), (1, 1, 8, None)],
                         ids=lambda s: f"T{s[0]}B{s[1]}H{s[2]}{'-len' if s[3] else ''}")
def test_all_variants_vs_reference(shape, strategy):
    """Everything at once: odd H (40: padding columns in every tile), two batch blocks (B=17), one step/row."""
    steps, batch, hidden, lengths = shape
    triton_backend.set_strategy(strategy)
    case = make_inputs(steps, batch, hidden, FEATURES["all"], seed=_seed(shape, strategy), lengths=lengths)
    check_vs_reference(run_op("triton", torch.float32, *case), torch.float32, *case)


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_eval_zoneout_expanded_rates(strategy):
    """Eval mode passes the zoneout rate as an expanded stride-0 view; the loss is y.sum() (stride-0 gradient)."""
    triton_backend.set_strategy(strategy)
    case = make_inputs(5, 2, 16, ("zoneout_c", "zoneout_h", "ln_h_weight"), seed=3, eval_zoneout=True)
    check_vs_reference(run_op("triton", torch.float32, *case, loss="sum"), torch.float32, *case, loss="sum")


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_all_variants_bf16(strategy):
    triton_backend.set_strategy(strategy)
    case = make_inputs(5, 3, 24, FEATURES["all"], seed=_seed("bf16", strategy), lengths=[5, 4, 2])
    got = run_op("triton", torch.bfloat16, *case)
    assert all(g.dtype == torch.bfloat16 for g in got if g is not None)
    check_vs_reference(got, torch.bfloat16, *case)


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_bitwise_deterministic(strategy):
    triton_backend.set_strategy(strategy)
    case = make_inputs(4, 3, 24, FEATURES["all"], seed=5, lengths=[4, 4, 2])
    first = run_op("triton", torch.float16, *case)
    second = run_op("triton", torch.float16, *case)
    for name, a, b in zip(NAMES, first, second):
        assert torch.equal(a, b), name


def _paper_loop(pre, w_hh, h0, c0, ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h):
    """float64 loop written from the papers, autograd through Python: LN_h as Ba et al. 2016 (gain only), zoneout as
    Krueger et al. 2016: ``ĉ = f c_{t-1} + i g``, ``c_t = z_c c_{t-1} + (1 - z_c) ĉ``, ``h_t = z_h h_{t-1} + (1 - z_h)
    o tanh(LN_c(ĉ))``. Returns y (T, B, H), h_n, c_n."""
    def ln(v, gain, bias=0.0):
        mean, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
        return (v - mean) / torch.sqrt(var + 1e-5) * gain + bias

    h, c, ys = h0, c0, []
    for t in range(pre.shape[0]):
        i, f, g, o = (pre[t] + ln(h @ w_hh.T, ln_h_weight)).chunk(4, -1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_new = f * c + i * g
        h_new = o * torch.tanh(ln(c_new, ln_c_weight, ln_c_bias))
        h = zoneout_h[t] * h + (1 - zoneout_h[t]) * h_new
        c = zoneout_c[t] * c + (1 - zoneout_c[t]) * c_new
        ys.append(h)
    return torch.stack(ys), h, c


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_zoneout_layer_norm_vs_paper_loop(strategy):
    """Zoneout with LayerNorm against the papers' equations directly (not the reference backend): the output sees
    the new cell ĉ_t, normalised, the zoned c_t is carried; outputs and every gradient, training masks."""
    triton_backend.set_strategy(strategy)
    names = ("ln_h_weight", "ln_c_weight", "ln_c_bias", "zoneout_c", "zoneout_h")
    primals, extras, cotangents, _ = make_inputs(5, 3, 8, names, seed=21)
    leaves = [p.to(DEVICE, torch.float32, copy=True).requires_grad_() for p in primals]
    given = {k: v.to(torch.float32, copy=True).requires_grad_(k in LN_NAMES) for k, v in extras.items()}
    outs = recurrence("triton", *leaves, None, None, **given)
    ref_leaves = [p.clone().to(DEVICE).requires_grad_() for p in primals]
    ref_given = {k: v.clone().requires_grad_(k in LN_NAMES) for k, v in extras.items()}
    ref_outs = _paper_loop(*ref_leaves, *(ref_given[k] for k in names))
    grads = [torch.autograd.grad(sum((o * g.to(o)).sum() for o, g in zip(out, cotangents)), [*x, *(d[n] for n in
             LN_NAMES)]) for out, x, d in ((outs, leaves, given), (ref_outs, ref_leaves, ref_given))]
    errors = {n: rel_error(a, b) for n, a, b in zip(("y", "h_n", "c_n"), outs, ref_outs)}
    errors |= {n: rel_error(a, b) for n, a, b in zip(NAMES[3:7] + LN_NAMES, *grads)}
    assert all(err <= 1e-4 for err in errors.values()), errors


def test_strategies_mix_forward_and_backward():
    """Forward through one strategy, backward through the other (the launcher may pick them by pass)."""
    primals, extras, cotangents, lens = make_inputs(4, 3, 16, FEATURES["all"], seed=9, lengths=[4, 3, 2])
    exact = run_op("reference", torch.float64, primals, extras, cotangents, lens)
    for forward, backward in (("sequence", "step"), ("step", "sequence")):
        triton_backend.set_strategy(forward)
        leaves = [p.to(DEVICE, torch.float32, copy=True).requires_grad_() for p in primals]
        given = {k: v if v.dtype == torch.bool else v.float() for k, v in extras.items()}
        outs = recurrence("triton", *leaves, None, lens, **given)
        triton_backend.set_strategy(backward)
        sum((o * g.to(DEVICE, torch.float32)).sum() for o, g in zip(outs, cotangents)).backward()
        for name, got, ref in zip(NAMES, [o.detach() for o in outs] + [x.grad for x in leaves], exact):
            assert rel_error(got, ref) <= 1e-4, (forward, backward, name)


def test_proj_size_refused():
    with pytest.raises(ValueError, match="proj_size"):
        resolve_backend("triton", DEVICE, has_proj=True, variant="layer_norm=True")


def _masks(steps, batch, hidden, num_layers, seed):
    gen = torch.Generator().manual_seed(seed)
    bern = lambda p, *shape: torch.bernoulli(torch.full(shape, p, dtype=torch.float64), generator=gen)  # noqa: E731
    return {(layer, direction): {"zoneout_c": bern(0.3, steps, batch, hidden),
                                 "zoneout_h": bern(0.2, steps, batch, hidden),
                                 "dropout_mask": bern(0.8, batch, hidden) / 0.8,
                                 "weight_drop": bern(0.7, 4 * hidden, hidden) / 0.7}
            for layer in range(num_layers) for direction in range(2)}


@pytest.mark.parametrize("strategy", ["auto", "step"])
def test_module_bidirectional_two_layers(strategy):
    """lstmkit.nn.LSTM(backend="triton") in training mode with injected masks, lengths and resets against
    backend="reference" in float64: outputs, final states, and the gradients of the input and every parameter."""
    triton_backend.set_strategy(strategy)
    steps, batch, inp, hidden, layers = 5, 3, 4, 8, 2
    opts = dict(bidirectional=True, layer_norm=True, zoneout_cell=0.3, zoneout_hidden=0.2, recurrent_dropout=0.2,
                weight_drop=0.3)
    torch.manual_seed(7)
    kernel = LSTM(inp, hidden, layers, backend="triton", **opts).to(DEVICE).train()
    with torch.no_grad():  # non-trivial LayerNorm parameters
        for n, prm in kernel.named_parameters():
            if n.startswith("layer_norm"):
                prm.add_(torch.randn_like(prm) * 0.3)
    exact = LSTM(inp, hidden, layers, backend="reference", dtype=torch.float64, **opts).to(DEVICE).train()
    exact.load_state_dict({k: v.double() for k, v in kernel.state_dict().items()})
    x = torch.randn(steps, batch, inp, dtype=torch.float64)
    lengths = torch.tensor([3, 5, 4])
    resets = torch.rand(steps, batch, generator=torch.Generator().manual_seed(1)) < 0.3
    masks = _masks(steps, batch, hidden, layers, seed=2)

    def run(module, dtype):
        xs = x.to(DEVICE, dtype, copy=True).requires_grad_()
        given = {key: {k: v.to(DEVICE, dtype) for k, v in m.items()} for key, m in masks.items()}
        out, (h_n, c_n) = module(xs, lengths=lengths, resets=resets.to(DEVICE), masks=given)
        (out.sum() + (h_n * h_n).sum() + c_n.sum()).backward()
        return {"output": out, "h_n": h_n, "c_n": c_n, "d_input": xs.grad,
                **{name: p.grad for name, p in module.named_parameters()}}

    got, ref = run(kernel, torch.float32), run(exact, torch.float64)
    errors = {name: rel_error(got[name], ref[name]) for name in ref}
    assert all(err <= 1e-4 for err in errors.values()), errors
