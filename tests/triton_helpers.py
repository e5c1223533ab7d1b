"""Shared by the Triton kernel tests (tests import helper modules, never each other): float64 inputs with the variant
inputs, forward+backward through the differentiable op, and the error measures with their tolerances (fp32 error
≤ 1e-4 relative to the reference's largest value; bf16 error ≤ 2× that of the reference backend run in bf16, plus
a small atol). Imports no Hydra: scripts/gpu_check.sh runs these tests on a stock PyTorch image."""

from __future__ import annotations

import torch

from lstmkit.ops import recurrence

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
NAMES = ("y", "h_n", "c_n", "d_pre", "d_w_hh", "d_h0", "d_c0", "d_ln_h_weight", "d_ln_c_weight", "d_ln_c_bias")
LN_NAMES = ("ln_h_weight", "ln_c_weight", "ln_c_bias")
FEATURES = {  # variant name -> the optional inputs it passes
    "ln_h": ("ln_h_weight",),
    "ln_c": ("ln_c_weight", "ln_c_bias"),
    "zoneout_c": ("zoneout_c",),
    "zoneout_h": ("zoneout_h",),
    "dropout": ("dropout_mask",),
    "resets": ("resets",),
    "all": ("ln_h_weight", "ln_c_weight", "ln_c_bias", "zoneout_c", "zoneout_h", "dropout_mask", "resets"),
}
BF16_ATOL = 4e-3  # added to 2x the bf16 reference's error (~1 ulp)


def strict_kernels(monkeypatch):
    """Autouse fixture body of the Triton tests (``_strict = pytest.fixture(autouse=True)(strict_kernels)``): every
    kernel output is poisoned with NaN before each launch, so an element no kernel writes fails; TF32 is off, so fp32
    meets 1e-4 on a GPU too, as for cuDNN; the Triton strategy a test sets is restored afterwards."""
    from lstmkit.kernels import launch

    from lstmkit.ops import triton_backend

    monkeypatch.setattr(launch, "POISON_OUTPUTS", True)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    previous = triton_backend.get_strategy()
    yield
    triton_backend.set_strategy(previous)


def make_inputs(steps, batch, hidden, features, seed, lengths=None, eval_zoneout=False):
    """float64 primals (pre, w_hh, h0, c0), the variant inputs named in ``features``, cotangents, lengths."""
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape, scale=1.0: torch.randn(*shape, generator=gen, dtype=torch.float64) * scale  # noqa: E731
    bern = lambda p, *shape: torch.bernoulli(torch.full(shape, p, dtype=torch.float64), generator=gen)  # noqa: E731
    primals = (rand(steps, batch, 4 * hidden), rand(4 * hidden, hidden, scale=hidden**-0.5),
               rand(batch, hidden, scale=0.5), rand(batch, hidden, scale=0.5))
    zoneout = ((lambda p: torch.full((1, 1, 1), p, dtype=torch.float64).expand(steps, batch, hidden))
               if eval_zoneout else (lambda p: bern(p, steps, batch, hidden)))
    extras = {
        "ln_h_weight": 1 + rand(4 * hidden, scale=0.3), "ln_c_weight": 1 + rand(hidden, scale=0.3),
        "ln_c_bias": rand(hidden, scale=0.3), "zoneout_c": zoneout(0.3), "zoneout_h": zoneout(0.4),
        "dropout_mask": bern(0.75, batch, hidden) / 0.75,
        "resets": torch.rand(steps, batch, generator=gen) < 0.3,
    }
    extras = {k: v.to(DEVICE) for k, v in extras.items() if k in features}
    cotangents = (rand(steps, batch, hidden), rand(batch, hidden), rand(batch, hidden))
    lens = None if lengths is None else torch.tensor(lengths, dtype=torch.int64, device=DEVICE)
    return primals, extras, cotangents, lens


def vanilla_inputs(steps, batch, hidden, seed, lengths=None):
    """float64 primals (pre, w_hh, h0, c0), cotangents and lengths of the vanilla recurrence."""
    primals, _, cotangents, lens = make_inputs(steps, batch, hidden, (), seed, lengths)
    return primals, cotangents, lens


def run_op(backend, dtype, primals, extras, cotangents, lengths, loss="weighted"):
    """Forward and backward through the differentiable variant op; returns outputs then gradients (NAMES; None
    for LayerNorm parameters not in use)."""
    leaves = [p.to(DEVICE, dtype, copy=True).requires_grad_() for p in primals]
    given = {k: (v if v.dtype == torch.bool else v.to(dtype, copy=True)) for k, v in extras.items()}
    for name in LN_NAMES:
        if name in given:
            given[name].requires_grad_()
    outs = recurrence(backend, *leaves, None, lengths, **given)
    if loss == "sum":
        total = outs[0].sum()  # its gradient arrives as an expanded, stride-0 view
    else:
        total = sum((o * g.to(DEVICE, dtype)).sum() for o, g in zip(outs, cotangents))
    total.backward()
    return [o.detach() for o in outs] + [leaf.grad for leaf in leaves] + [
        given[n].grad if n in given else None for n in LN_NAMES]


def rel_error(x, ref):
    """Largest absolute error relative to the reference's largest magnitude (NaN if x has any NaN)."""
    x, ref = x.double().cpu(), ref.double().cpu()
    if not torch.isfinite(x).all():
        return float("nan")
    return ((x - ref).abs().max() / ref.abs().max().clamp_min(1e-3)).item()


def check_vs_reference(got, dtype, primals, extras, cotangents, lengths, loss="weighted"):
    exact = run_op("reference", torch.float64, primals, extras, cotangents, lengths, loss)
    assert [g is None for g in got] == [e is None for e in exact]
    if dtype == torch.float32:
        errors = {n: rel_error(g, e) for n, g, e in zip(NAMES, got, exact) if e is not None}
        assert all(err <= 1e-4 for err in errors.values()), errors
        return errors
    same_dtype = run_op("reference", dtype, primals, extras, cotangents, lengths, loss)
    errors = {}
    for name, g, e, r in zip(NAMES, got, exact, same_dtype):
        if e is not None:
            errors[name] = (rel_error(g, e), rel_error(r, e))
            assert errors[name][0] <= 2 * errors[name][1] + BF16_ATOL, f"{name}: kernel vs same-dtype reference"
    return errors
