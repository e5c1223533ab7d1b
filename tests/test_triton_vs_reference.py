"""Triton backend vs the float64 reference: outputs, final states and every gradient, both strategies.

Runs on the GPU where there is one, else under TRITON_INTERPRET=1 (set by conftest) on the CPU, where the
interpreter is slow: shapes stay tiny. Every kernel output is poisoned with NaN before each launch, so an
element no kernel writes fails. Tolerances: fp32 error ≤ 1e-4 relative to the largest reference value;
fp16/bf16 error at most 2× that of the reference backend run in the same dtype, plus a small atol.
"""

from __future__ import annotations

import zlib

import pytest
import torch
from triton_helpers import DEVICE, rel_error, strict_kernels, vanilla_inputs

from lstmkit.nn import LSTM
from lstmkit.ops import available_backends, recurrence, resolve_backend

pytestmark = pytest.mark.skipif("triton" not in available_backends(), reason="triton backend not registered")

if "triton" in available_backends():
    from lstmkit.kernels import launch

    from lstmkit.ops import triton_backend

NAMES = ("y", "h_n", "c_n", "d_pre", "d_w_hh", "d_h0", "d_c0")
ATOL = {torch.float16: 5e-4, torch.bfloat16: 4e-3}  # added to 2x the same-dtype reference's error (~1 ulp)


_strict = pytest.fixture(autouse=True)(strict_kernels)


def _run(backend, dtype, primals, cotangents, lengths, loss="weighted"):
    """Forward and backward through the differentiable op; returns outputs then gradients (NAMES)."""
    leaves = [p.to(DEVICE, dtype, copy=True).requires_grad_() for p in primals]
    outs = recurrence(backend, *leaves, None, lengths)
    if loss == "sum":
        total = outs[0].sum()  # its gradient arrives as an expanded, stride-0 view
    else:
        total = sum((o * g.to(DEVICE, dtype)).sum() for o, g in zip(outs, cotangents))
    total.backward()
    return [o.detach() for o in outs] + [leaf.grad for leaf in leaves]


def _check(got, dtype, primals, cotangents, lengths, loss="weighted"):
    exact = _run("reference", torch.float64, primals, cotangents, lengths, loss)
    if dtype == torch.float32:
        errors = {n: rel_error(g, e) for n, g, e in zip(NAMES, got, exact)}
        assert all(err <= 1e-4 for err in errors.values()), errors
        return errors
    same_dtype = _run("reference", dtype, primals, cotangents, lengths, loss)
    for name, g, e, r in zip(NAMES, got, exact, same_dtype):
        err, ref_err = rel_error(g, e), rel_error(r, e)
        assert err <= 2 * ref_err + ATOL[dtype], f"{name}: kernel {err:.2e} vs same-dtype reference {ref_err:.2e}"
    return None


CASES = [  # (T, B, H, lengths): odd sizes, a single step and row, padding rows and columns of every tile
    (7, 3, 40, None),
    (1, 1, 8, None),
    (4, 3, 72, [4, 2, 1]),
    (7, 3, 40, [7, 4, 1]),
]


@pytest.mark.parametrize("strategy", ["step", "sequence"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"T{c[0]}B{c[1]}H{c[2]}{'-len' if c[3] else ''}")
def test_recurrence_vs_reference(strategy, dtype, case):
    steps, batch, hidden, lengths = case
    if strategy == "sequence" and not launch.interpreting() and hidden > launch.sequence_max_hidden(
        dtype, torch.cuda.get_device_capability()[0], backward=True
    ):
        pytest.skip("W_hh does not fit on chip for the sequence kernel on this GPU")
    triton_backend.set_strategy(strategy)
    primals, cotangents, lens = vanilla_inputs(steps, batch, hidden,
                                               seed=zlib.crc32(repr((strategy, dtype, case)).encode()), lengths=lengths)
    got = _run("triton", dtype, primals, cotangents, lens)
    assert all(g.dtype == dtype for g in got)
    _check(got, dtype, primals, cotangents, lens)


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_sum_loss_expanded_gradients(strategy):
    triton_backend.set_strategy(strategy)
    primals, cotangents, lens = vanilla_inputs(5, 3, 24, seed=11, lengths=[5, 3, 2])
    got = _run("triton", torch.float32, primals, cotangents, lens, loss="sum")
    _check(got, torch.float32, primals, cotangents, lens, loss="sum")


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_bitwise_deterministic(strategy):
    triton_backend.set_strategy(strategy)
    primals, cotangents, lens = vanilla_inputs(6, 3, 40, seed=5, lengths=[6, 6, 3])
    first = _run("triton", torch.float16, primals, cotangents, lens)
    second = _run("triton", torch.float16, primals, cotangents, lens)
    for name, a, b in zip(NAMES, first, second):
        assert torch.equal(a, b), name


def test_strategies_agree_with_each_other_and_reference():
    """Forward through one strategy and backward through the other (the launcher may mix them by pass)."""
    primals, cotangents, lens = vanilla_inputs(5, 2, 16, seed=3)
    args = [p.to(DEVICE) for p in primals]
    y, h_n, c_n, gates, cells = launch.lstm_forward(*args, strategy="sequence")
    grads = [g.to(DEVICE, torch.float32) for g in cotangents]
    d_pre, d_h0, d_c0 = launch.lstm_backward(*grads, gates, cells, args[1], args[3], strategy="step")
    exact = _run("reference", torch.float64, primals, cotangents, None)
    for name, got, ref in zip(("y", "h_n", "c_n", "d_pre", "d_h0", "d_c0"), (y, h_n, c_n, d_pre, d_h0, d_c0),
                              exact[:4] + exact[5:]):
        assert rel_error(got, ref) <= 1e-4, name


def _module_pair(input_size, hidden, num_layers, bidirectional, seed):
    torch.manual_seed(seed)
    kernel = LSTM(input_size, hidden, num_layers, bidirectional=bidirectional, backend="triton").to(DEVICE)
    exact = LSTM(input_size, hidden, num_layers, bidirectional=bidirectional, backend="reference",
                 dtype=torch.float64).to(DEVICE)
    exact.load_state_dict({k: v.double() for k, v in kernel.state_dict().items()})
    return kernel, exact


def _module_run(module, x, lengths, dtype):
    x = x.to(DEVICE, dtype, copy=True).requires_grad_()
    out, (h_n, c_n) = module(x, lengths=lengths)
    (out.sum() + (h_n * h_n).sum() + c_n.sum()).backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return {"output": out, "h_n": h_n, "c_n": c_n, "d_input": x.grad, **grads}


@pytest.mark.parametrize("strategy", ["auto", "step"])
def test_module_bidirectional_multilayer_lengths(strategy):
    """Through lstmkit.nn.LSTM: I != H, two layers, both directions, unsorted lengths."""
    triton_backend.set_strategy(strategy)
    kernel, exact = _module_pair(input_size=5, hidden=8, num_layers=2, bidirectional=True, seed=7)
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    lengths = torch.tensor([4, 6, 2])
    got = _module_run(kernel, x, lengths, torch.float32)
    ref = _module_run(exact, x, lengths, torch.float64)
    errors = {name: rel_error(got[name], ref[name]) for name in ref}
    assert all(err <= 1e-4 for err in errors.values()), errors


def test_module_autocast_bf16():
    kernel, exact = _module_pair(input_size=6, hidden=16, num_layers=1, bidirectional=False, seed=2)
    x = torch.randn(5, 2, 6, dtype=torch.float64)
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        out, (h_n, c_n) = kernel(x.to(DEVICE, torch.float32))
    ref, _ = exact(x.to(DEVICE))
    assert out.dtype == torch.bfloat16
    assert rel_error(out, ref) <= 2e-2


def test_unsupported_configurations(monkeypatch):
    with pytest.raises(ValueError, match="proj_size"):
        resolve_backend("triton", DEVICE, has_proj=True)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert "TRITON_INTERPRET" in triton_backend.unsupported(device=torch.device("cpu"), has_proj=False)
    assert triton_backend.unsupported(device=torch.device("cuda"), has_proj=False) is None
    with pytest.raises(NotImplementedError, match="proj_size"):
        triton_backend.forward_fn(torch.zeros(1, 1, 4), torch.zeros(4, 1), torch.zeros(1, 1), torch.zeros(1, 1),
                                  torch.zeros(1, 1), None)


def test_strategy_choice(monkeypatch):
    assert launch.choose_strategy(64, torch.bfloat16) == "sequence"
    assert launch.choose_strategy(768, torch.bfloat16) == "step"
    assert launch.choose_strategy(64, torch.bfloat16, "step") == "step"
    with pytest.raises(ValueError, match="strategy"):
        launch.choose_strategy(64, torch.bfloat16, "persistent-typo")
    with pytest.raises(ValueError, match="strategy"):
        triton_backend.set_strategy("fastest")
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # on a GPU, a forced sequence kernel must fit on chip
    with pytest.raises(ValueError, match="exceeds"):
        launch.choose_strategy(1024, torch.bfloat16, "sequence")


def test_torch_compile_sees_one_op():
    """The registered custom op traces with fullgraph=True (fake impls give the shapes) and runs the kernels."""
    triton_backend.set_strategy("sequence")
    primals, cotangents, _ = vanilla_inputs(4, 2, 16, seed=13)
    compiled = torch.compile(lambda *args: recurrence("triton", *args), fullgraph=True, backend="aot_eager")
    leaves = [p.to(DEVICE, torch.float32, copy=True).requires_grad_() for p in primals]
    outs = compiled(*leaves)
    sum((o * g.to(DEVICE, torch.float32)).sum() for o, g in zip(outs, cotangents)).backward()
    got = [o.detach() for o in outs] + [leaf.grad for leaf in leaves]
    _check(got, torch.float32, primals, cotangents, None)
