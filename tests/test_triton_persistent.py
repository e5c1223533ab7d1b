"""The persistent kernels (strategy="persistent": kernels/persistent.py forward, kernels/persistent_bwd.py backward):
their per-step bodies, launched once per step (the one-step mode: no spin-wait, so it runs under TRITON_INTERPRET=1),
against the float64 references; and the launchers' refusals. Their compiled form (MMA instruction, atomics, W_hh
outside the loop) is checked by tests/test_kernel_report.py."""

from __future__ import annotations

import types

import pytest
import torch
from oracles import plain_layer
from triton_helpers import BF16_ATOL, DEVICE, make_inputs, rel_error, run_op, strict_kernels

from lstmkit.ops import available_backends, recurrence

pytestmark = pytest.mark.skipif("triton" not in available_backends(), reason="triton backend not registered")

if "triton" in available_backends():
    from lstmkit.kernels import launch, persistent_launch

    from lstmkit.ops import triton_backend


_strict = pytest.fixture(autouse=True)(strict_kernels)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", [(4, 3, 40, [4, 2, 1]), (3, 17, 24, None)], ids=["H40-len", "B17H24"])
def test_one_step_mode_vs_reference(case, dtype):
    """H not a multiple of the 16-unit block (padding units and K), two batch blocks (B=17), lengths."""
    steps, batch, hidden, lengths = case
    primals, _, _, lens = make_inputs(steps, batch, hidden, (), seed=steps * batch + hidden, lengths=lengths)
    exact = recurrence("reference", *primals, None, lens)
    got = persistent_launch.persistent_forward(*(p.to(DEVICE, dtype) for p in primals), lens, one_step=True)
    ref_gates_cells = launch.lstm_forward(*(p.to(DEVICE) for p in primals), lens, strategy="step")[3:]
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    for name, a, b in zip(("y", "h_n", "c_n", "gates", "cells"), got, (*exact, *ref_gates_cells)):
        assert a.dtype == dtype, name
        assert rel_error(a, b) <= tol, (name, rel_error(a, b))


@pytest.fixture
def one_step_persistent(monkeypatch):
    """``strategy="persistent"`` through the launcher and the autograd op, with both kernels in their one-step modes
    (the interpreter cannot run the spin-wait); returns the list of the persistent launchers that ran, in order."""
    calls = []

    def one_step(name):
        run = getattr(persistent_launch, name)

        def launcher(*args, **kwargs):
            calls.append(name)
            return run(*args, one_step=True, **kwargs)
        return launcher

    for name in ("persistent_forward", "persistent_backward"):
        monkeypatch.setattr(persistent_launch, name, one_step(name))
    triton_backend.set_strategy("persistent")
    return calls


def _oracle(primals, cotangents, lens):
    """y, h_n, c_n and the gradients of pre, W_hh, h0, c0 from tests/oracles.py's float64 loop (W_ih = I and no
    bias, so its input x is pre), for the loss Σ outputs · cotangents."""
    pre, w_hh, h0, c0 = (p.detach().cpu().clone().requires_grad_() for p in primals)
    zero = torch.zeros(pre.shape[-1], dtype=torch.float64)
    params = {"weight_ih": torch.eye(pre.shape[-1], dtype=torch.float64), "weight_hh": w_hh, "bias_ih": zero,
              "bias_hh": zero}
    outs = plain_layer(pre, params, h0, c0, lengths=None if lens is None else lens.cpu())
    sum((o * g).sum() for o, g in zip(outs, cotangents)).backward()
    return [o.detach() for o in outs] + [pre.grad, w_hh.grad, h0.grad, c0.grad]


def _check_vs_loop(case, dtype, calls):
    """Forward and backward through the op (dW_hh from the backward's d_pre) against :func:`_oracle`: fp32 within
    1e-4; bf16 within 2x the reference backend's own bf16 error (+ 1 ulp)."""
    steps, batch, hidden, lengths = case
    primals, _, cotangents, lens = make_inputs(steps, batch, hidden, (), seed=steps * batch + hidden, lengths=lengths)
    got = run_op("triton", dtype, primals, {}, cotangents, lens)[:7]
    assert calls == ["persistent_forward", "persistent_backward"]
    exact = _oracle(primals, cotangents, lens)
    floor = (run_op("reference", dtype, primals, {}, cotangents, lens)[:7] if dtype == torch.bfloat16
             else [None] * 7)
    for name, a, b, r in zip(("y", "h_n", "c_n", "d_pre", "d_w_hh", "d_h0", "d_c0"), got, exact, floor):
        assert a.dtype == dtype, name
        tol = 1e-4 if r is None else 2 * rel_error(r, b) + BF16_ATOL
        assert rel_error(a, b) <= tol, (name, rel_error(a, b), tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", [(4, 3, 40, [4, 2, 1]), (3, 17, 24, None), (1, 2, 16, None)],
                         ids=["H40-len", "B17H24", "T1"])
def test_forward_backward_one_step_vs_float64_loop(case, dtype, one_step_persistent):
    """Both persistent kernels: H not a multiple of the 16-unit block, two batch blocks (B=17), rows ending at
    different steps, a single step (the closing d_h0 iteration right after the first); the backward loads da's four
    gate chunks at once (as up to K = 512)."""
    _check_vs_loop(case, dtype, one_step_persistent)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_backward_with_gate_chunks_one_at_a_time_vs_float64_loop(dtype, one_step_persistent, monkeypatch):
    """The backward's other load order (K = 1024 on a GPU: one gate chunk of da staged at a time)."""
    monkeypatch.setattr(persistent_launch, "gates_at_once", lambda hidden: False)
    _check_vs_loop((4, 3, 40, [4, 2, 1]), dtype, one_step_persistent)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the spin-wait needs all programs resident: a GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_persistent_on_gpu_vs_reference(dtype):
    """The persistent kernels themselves (one launch per pass, acquire/release counters) with lengths, forward and
    backward, against the float64 reference."""
    triton_backend.set_strategy("persistent")
    primals, _, cotangents, lens = make_inputs(40, 19, 256, (), seed=7, lengths=[40] * 10 + [25] * 8 + [1])
    leaves = [p.to(DEVICE, dtype, copy=True).requires_grad_() for p in primals]
    outs = recurrence("triton", *leaves, None, lens)
    sum((o * g.to(DEVICE, dtype)).sum() for o, g in zip(outs, cotangents)).backward()
    ref_leaves = [p.to(DEVICE, copy=True).requires_grad_() for p in primals]
    ref = recurrence("reference", *ref_leaves, None, lens)
    sum((o * g.to(DEVICE)).sum() for o, g in zip(ref, cotangents)).backward()
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    for name, a, b in zip(("y", "h_n", "c_n", "d_pre", "d_w_hh", "d_h0", "d_c0"),
                          [*outs, *(x.grad for x in leaves)], [*ref, *(x.grad for x in ref_leaves)]):
        assert rel_error(a, b) <= tol, (name, rel_error(a, b))


def _saved(steps, batch, hidden):
    """Backward's inputs of the given shapes (values irrelevant: these calls are refused before any launch)."""
    zeros = lambda *shape: torch.zeros(*shape, device=DEVICE)  # noqa: E731
    return (zeros(steps, batch, hidden), zeros(batch, hidden), zeros(batch, hidden), zeros(steps, batch, 4 * hidden),
            zeros(steps, batch, hidden), zeros(4 * hidden, hidden), zeros(batch, hidden))


def test_refused_under_the_interpreter_and_for_variants(monkeypatch):
    primals, *_ = make_inputs(3, 2, 16, (), seed=1)
    args = [p.to(DEVICE, torch.float32) for p in primals]
    if launch.interpreting():
        with pytest.raises(ValueError, match="strategy='persistent' cannot run this call: TRITON_INTERPRET=1"):
            launch.lstm_forward(*args, strategy="persistent")
        with pytest.raises(ValueError, match="strategy='persistent' cannot run this call: TRITON_INTERPRET=1"):
            launch.lstm_backward(*_saved(3, 2, 16), strategy="persistent")
    variant = launch.VariantInputs(zoneout_c=torch.zeros(3, 2, 16, device=DEVICE))
    with pytest.raises(ValueError, match=r"runs the vanilla LSTM only, not \['ZONEOUT_C'\]"):
        launch.lstm_forward(*args, strategy="persistent", variant=variant)
    with pytest.raises(ValueError, match=r"runs the vanilla LSTM only, not \['ZONEOUT_C'\]"):
        launch.lstm_variant_backward(*_saved(3, 2, 16), strategy="persistent", variant=variant)


def test_refused_when_programs_cannot_all_be_resident(monkeypatch):
    """2 batch blocks x 3 hidden blocks = 6 programs on a GPU of 4 SMs: a spin-wait could wait forever."""
    monkeypatch.setattr(launch, "interpreting", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: types.SimpleNamespace(
        multi_processor_count=4))
    primals, *_ = make_inputs(2, 20, 48, (), seed=2)
    with pytest.raises(ValueError, match=r"6 programs \(batch blocks x hidden blocks\) must be resident at once, "
                                         r"more than this GPU's 4 SMs"):
        launch.lstm_forward(*(p.to(DEVICE, torch.float32) for p in primals), strategy="persistent")
    with pytest.raises(ValueError, match=r"6 programs \(batch blocks x hidden blocks\) must be resident at once"):
        launch.lstm_backward(*_saved(2, 20, 48), strategy="persistent")


def test_persistent_is_opt_in_for_both_passes():
    assert launch.choose_strategy(512, torch.bfloat16, "persistent") == "persistent"
    assert launch.choose_strategy(512, torch.bfloat16, "persistent", backward=True) == "persistent"
    assert launch.choose_strategy(512, torch.bfloat16, "auto") == "step"  # never chosen unless asked for
    assert launch.choose_strategy(512, torch.bfloat16, "auto", backward=True) == "step"


def test_refused_when_the_shared_memory_per_block_is_too_small(monkeypatch):
    """A consumer GPU's ~99 KB per block: each pass names its kernel and the figures."""
    monkeypatch.setattr(launch, "interpreting", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: types.SimpleNamespace(
        multi_processor_count=132))
    monkeypatch.setattr(launch, "shared_memory", lambda *args: (163_840, 101_376))
    primals, *_ = make_inputs(2, 20, 48, (), seed=3)
    message = r"needs 163840 bytes of shared memory per block, more than this GPU's 101376"
    with pytest.raises(ValueError, match="lstm_fwd_persistent_kernel " + message):
        launch.lstm_forward(*(p.to(DEVICE, torch.float32) for p in primals), strategy="persistent")
    with pytest.raises(ValueError, match="lstm_bwd_persistent_kernel " + message):
        launch.lstm_backward(*_saved(2, 20, 48), strategy="persistent")
