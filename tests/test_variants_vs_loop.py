"""LSTM variants (DESIGN §4) against a plainly written per-timestep float64 loop (autograd through Python).

Masks are injected into both sides through ``masks=`` so the comparison is exact in training mode.
"""

import pytest
import torch
from oracles import layer_params, plain_layer

from lstmkit.nn import LSTM, LSTMCell

DT = torch.float64


def make_masks(steps, batch, hid, real, *, zc=0.0, zh=0.0, rd=0.0, wd=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = {}
    if zc:
        masks["zoneout_c"] = torch.bernoulli(torch.full((steps, batch, hid), zc, dtype=DT), generator=g)
    if zh:
        masks["zoneout_h"] = torch.bernoulli(torch.full((steps, batch, real), zh, dtype=DT), generator=g)
    if rd:
        masks["dropout_mask"] = torch.bernoulli(torch.full((batch, real), 1 - rd, dtype=DT), generator=g) / (1 - rd)
    if wd:
        masks["weight_drop"] = torch.bernoulli(torch.full((4 * hid, real), 1 - wd, dtype=DT), generator=g) / (1 - wd)
    return masks


VARIANTS = {
    "layer_norm": dict(layer_norm=True),
    "zoneout_cell": dict(zoneout_cell=0.3),
    "zoneout_hidden": dict(zoneout_hidden=0.4),
    "recurrent_dropout": dict(recurrent_dropout=0.25),
    "weight_drop": dict(weight_drop=0.5),
    "all": dict(layer_norm=True, zoneout_cell=0.2, zoneout_hidden=0.3, recurrent_dropout=0.2, weight_drop=0.3),
}


def backends():
    from lstmkit.ops import available_backends

    return available_backends()


FLOAT64_TOL = dict(rtol=1e-9, atol=1e-10)
# triton accumulates in float32 by design, even for float64 tensors: fp32 tolerances
FLOAT32_TOL = dict(rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("backend", [b for b in backends() if b != "triton"])
@pytest.mark.parametrize("with_resets", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("proj", [0, 2])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_matches_plain_loop(name, proj, with_lengths, with_resets, backend):
    compare_with_plain_loop(name, proj, with_lengths, with_resets, backend, FLOAT64_TOL)


@pytest.mark.skipif("triton" not in backends(), reason="triton backend not registered")
@pytest.mark.parametrize("with_lengths", [False, True])
def test_triton_all_variants_match_plain_loop(with_lengths):
    """The interpreter is slow: every variant at once, with resets, is the triton case here (each variant
    alone is in tests/test_triton_variants.py against the float64 reference backend)."""
    compare_with_plain_loop("all", 0, with_lengths, True, "triton", FLOAT32_TOL)


def compare_with_plain_loop(name, proj, with_lengths, with_resets, backend, tol):
    opts = VARIANTS[name]
    torch.manual_seed(0)
    steps, batch, inp, hid = 6, 3, 4, 5
    real = proj or hid
    lstm = LSTM(inp, hid, proj_size=proj, dtype=DT, backend=backend, **opts).train()
    with torch.no_grad():  # make the LayerNorm parameters non-trivial
        for n, prm in lstm.named_parameters():
            if n.startswith("layer_norm"):
                prm.add_(torch.randn_like(prm) * 0.3)
    x = torch.randn(steps, batch, inp, dtype=DT, requires_grad=True)
    h0 = torch.randn(1, batch, real, dtype=DT, requires_grad=True)
    c0 = torch.randn(1, batch, hid, dtype=DT, requires_grad=True)
    lengths = torch.tensor([4, 6, 2]) if with_lengths else None
    resets = (torch.rand(steps, batch, generator=torch.Generator().manual_seed(3)) < 0.3) if with_resets else None
    masks = make_masks(steps, batch, hid, real, zc=opts.get("zoneout_cell", 0), zh=opts.get("zoneout_hidden", 0),
                       rd=opts.get("recurrent_dropout", 0), wd=opts.get("weight_drop", 0))

    out, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths, resets=resets, masks={(0, 0): masks})
    ref_out, ref_h, ref_c = plain_layer(
        x, layer_params(lstm), h0[0], c0[0], ln=opts.get("layer_norm", False), zc=masks.get("zoneout_c"),
        zh=masks.get("zoneout_h"), dm=masks.get("dropout_mask"), wmask=masks.get("weight_drop"), resets=resets,
        lengths=lengths)

    with torch.no_grad():  # no gradient needed: the backend's inference op, which keeps nothing for backward
        out_ng, (h_ng, c_ng) = lstm(x, (h0, c0), lengths=lengths, resets=resets, masks={(0, 0): masks})
    for a, b in zip((out_ng, h_ng[0], c_ng[0]), (ref_out, ref_h, ref_c)):
        torch.testing.assert_close(a, b.detach(), **tol)

    weights = [torch.randn_like(t) for t in (out, h_n[0], c_n[0])]
    inputs = [x, h0, c0, *lstm.parameters()]
    ours = torch.autograd.grad(sum((t * w).sum() for t, w in zip((out, h_n[0], c_n[0]), weights)), inputs)
    theirs = torch.autograd.grad(sum((t * w).sum() for t, w in zip((ref_out, ref_h, ref_c), weights)), inputs)
    torch.testing.assert_close(out, ref_out, **tol)
    torch.testing.assert_close(h_n[0], ref_h, **tol)
    torch.testing.assert_close(c_n[0], ref_c, **tol)
    names = ["input", "h0", "c0"] + [n for n, _ in lstm.named_parameters()]
    for n, a, b in zip(names, ours, theirs):
        torch.testing.assert_close(a, b, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10, msg=lambda m, n=n: f"d_{n}: {m}")


def test_inference_op_only_without_gradients():
    """no_grad (or inputs without requires_grad) runs ``reference_recurrence_infer``; anything needing a gradient
    runs the training op."""
    lstm = LSTM(3, 4, layer_norm=True, backend="reference")
    x = torch.randn(5, 2, 3)

    def ops_run(fn):
        with torch.profiler.profile() as prof:
            fn()
        return {e.name for e in prof.events() if e.name.startswith("lstmkit::reference_recurrence")}

    with torch.no_grad():
        assert ops_run(lambda: lstm(x)) == {"lstmkit::reference_recurrence_infer"}
    assert ops_run(lambda: lstm(x)) == {"lstmkit::reference_recurrence_fwd"}  # the parameters require grad
    lstm.requires_grad_(False)
    assert ops_run(lambda: lstm(x)) == {"lstmkit::reference_recurrence_infer"}
    assert ops_run(lambda: lstm(x.requires_grad_())) == {"lstmkit::reference_recurrence_fwd"}


def test_eval_mode_zoneout_uses_expectation_and_is_deterministic():
    torch.manual_seed(1)
    lstm = LSTM(3, 4, dtype=DT, zoneout_cell=0.3, zoneout_hidden=0.6, recurrent_dropout=0.5, weight_drop=0.5).eval()
    x = torch.randn(5, 2, 3, dtype=DT)
    out1, out2 = lstm(x)[0], lstm(x)[0]
    assert torch.equal(out1, out2)
    full = lambda v, shape: torch.full(shape, v, dtype=DT)  # noqa: E731
    ref, _, _ = plain_layer(x, layer_params(lstm), torch.zeros(2, 4, dtype=DT), torch.zeros(2, 4, dtype=DT),
                            zc=full(0.3, (5, 2, 4)), zh=full(0.6, (5, 2, 4)))
    torch.testing.assert_close(out1, ref, rtol=1e-10, atol=1e-12)


def test_training_masks_follow_torch_seed():
    lstm = LSTM(3, 4, zoneout_cell=0.3, recurrent_dropout=0.3, weight_drop=0.3).train()
    x = torch.randn(5, 2, 3)
    torch.manual_seed(5)
    a = lstm(x)[0]
    b = lstm(x)[0]
    torch.manual_seed(5)
    c = lstm(x)[0]
    assert torch.equal(a, c) and not torch.equal(a, b)


@pytest.mark.parametrize("opts", [dict(zoneout_cell=0.0, recurrent_dropout=0.0), dict(recurrent_dropout=0.4,
                                  weight_drop=0.5, zoneout_cell=0.0)])
def test_rates_reduce_to_vanilla(opts):
    """p=0 everywhere is the vanilla LSTM; dropouts are inactive in eval mode."""
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=DT)
    ours = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=DT, backend="reference", **opts).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 2, 3, dtype=DT)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], rtol=1e-10, atol=1e-12)


def test_reset_at_start_equals_zero_initial_state():
    torch.manual_seed(2)
    lstm = LSTM(3, 4, num_layers=2, layer_norm=True, dtype=DT)
    x = torch.randn(5, 2, 3, dtype=DT)
    hx = (torch.randn(2, 2, 4, dtype=DT), torch.randn(2, 2, 4, dtype=DT))
    resets = torch.zeros(5, 2, dtype=torch.bool)
    resets[0] = True
    torch.testing.assert_close(lstm(x, hx, resets=resets)[0], lstm(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("with_lengths", [False, True])
def test_bidirectional_resets_split_episodes(with_lengths):
    """Rule: resets[t] marks an episode start at t. The forward direction zeroes its state entering t;
    the reverse direction zeroes its state entering t-1. So both directions see each episode alone."""
    torch.manual_seed(3)
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, zoneout_cell=0.2, dtype=DT).eval()
    first, second = torch.randn(3, 1, 3, dtype=DT), torch.randn(4, 1, 3, dtype=DT)
    x = torch.cat([first, second])
    resets = torch.zeros(7, 1, dtype=torch.bool)
    resets[3] = True
    if with_lengths:  # pad with a second, shorter sequence to exercise the per-length reversal
        x = torch.cat([x, torch.randn(7, 1, 3, dtype=DT)], dim=1)
        resets = torch.cat([resets, torch.zeros(7, 1, dtype=torch.bool)], dim=1)
        out = lstm(x, resets=resets, lengths=torch.tensor([7, 5]))[0][:, :1]
    else:
        out = lstm(x, resets=resets)[0]
    expected = torch.cat([lstm(first)[0], lstm(second)[0]])
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_forget_bias_sets_the_sum():
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, forget_bias=1.0)
    for sfx in ("_l0", "_l1_reverse"):
        total = getattr(lstm, "bias_ih" + sfx) + getattr(lstm, "bias_hh" + sfx)
        torch.testing.assert_close(total[4:8], torch.ones(4))
        assert not torch.allclose(total[:4], torch.ones(4))
    with pytest.raises(ValueError, match="forget_bias: needs bias=True"):
        LSTM(3, 4, bias=False, forget_bias=1.0)


def test_cell_variant_matches_plain_loop():
    torch.manual_seed(4)
    cell = LSTMCell(3, 4, layer_norm=True, zoneout_cell=0.5, zoneout_hidden=0.5, dtype=DT).train()
    x = torch.randn(2, 3, dtype=DT)
    hx = (torch.randn(2, 4, dtype=DT), torch.randn(2, 4, dtype=DT))
    masks = {k: v[0] for k, v in make_masks(1, 2, 4, 4, zc=0.5, zh=0.5).items()}
    h1, c1 = cell(x, hx, masks=masks)
    params = {n: p for n, p in cell.named_parameters()}
    _, rh, rc = plain_layer(x.unsqueeze(0), params, *hx, ln=True, zc=masks["zoneout_c"][None],
                            zh=masks["zoneout_h"][None])
    torch.testing.assert_close(h1, rh, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(c1, rc, rtol=1e-10, atol=1e-12)


def test_aten_refuses_variants():
    with pytest.raises(ValueError, match=r"backend='aten' cannot run this configuration: aten runs vanilla LSTMs "
                                         r"only, not layer_norm"):
        LSTM(3, 4, layer_norm=True, backend="aten")(torch.randn(2, 1, 3))
    with pytest.raises(ValueError, match=r"not resets"):
        LSTM(3, 4, backend="aten")(torch.randn(2, 1, 3), resets=torch.zeros(2, 1, dtype=torch.bool))


@pytest.mark.parametrize("kwargs, match", [
    (dict(zoneout_cell=1.5), r"zoneout_cell: expected a probability in \[0, 1\], got 1.5"),
    (dict(recurrent_dropout=1.0), r"recurrent_dropout: expected a probability in \[0, 1\), got 1.0"),
    (dict(weight_drop=-0.1), r"weight_drop: expected a probability in \[0, 1\), got -0.1"),
])
def test_bad_variant_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTM(3, 4, **kwargs)


def test_bad_resets():
    lstm = LSTM(3, 4, batch_first=True)
    with pytest.raises(TypeError, match="resets: expected dtype torch.bool, got torch.int64"):
        lstm(torch.randn(2, 5, 3), resets=torch.zeros(2, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"resets: expected shape \(2, 5\), got \(5, 2\)"):
        lstm(torch.randn(2, 5, 3), resets=torch.zeros(5, 2, dtype=torch.bool))
