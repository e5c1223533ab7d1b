"""The autograd-loop baselines of scripts/bench_lstm.py compute the same LSTM as the plain float64 loop of
tests/oracles.py (outputs and gradients), so the benchmark's ratios compare like with like."""

import pytest
import torch
from helpers import load_script
from oracles import layer_params, plain_layer

from lstmkit.nn import LSTM

bench = load_script("bench_lstm")


@pytest.mark.parametrize("per_step", [False, True], ids=["hoisted", "cell"])
@pytest.mark.parametrize("variant", [{}, {"layer_norm": True}], ids=["vanilla", "layer_norm"])
def test_loop_baseline_matches_plain_loop(variant, per_step):
    torch.manual_seed(3)
    lstm = LSTM(5, 7, dtype=torch.float64, **variant)
    for name, p in lstm.named_parameters():  # away from LSTM's init so that every LayerNorm gain matters
        torch.nn.init.uniform_(p, -0.8, 0.8) if "layer_norm" not in name else torch.nn.init.uniform_(p, 0.5, 1.5)
    x = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(6, 3, 7, dtype=torch.float64)

    y = bench.loop_lstm(lstm, x, per_step=per_step)
    got = torch.autograd.grad(y, [x, *lstm.parameters()], grad)
    zeros = torch.zeros(3, 7, dtype=torch.float64)
    y_ref = plain_layer(x, layer_params(lstm), zeros, zeros, ln=bool(variant))[0]
    want = torch.autograd.grad(y_ref, [x, *lstm.parameters()], grad, allow_unused=True)

    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    for g, w in zip(got, want):
        if w is None:  # parameters the variant does not use
            assert g is None or not g.abs().any()
        else:
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-11)


def test_graphed_contenders_carry_every_weight():
    """--cuda-graphs graphs bench.Output modules: make_graphed_callables differentiates exactly a module's
    parameters, so every LSTM weight must be registered under it (the graphed backward then yields all of dW)."""
    baseline = torch.nn.LSTM(3, 4)
    for backend in ("torch.nn.LSTM", "reference" + bench.GRAPHED):
        module = bench.build(backend, (2, 5, 3, 4), torch.float32, torch.device("cpu"), baseline, {})
        inner = baseline if backend == "torch.nn.LSTM" else module.lstm
        assert isinstance(module, bench.Output)
        assert {id(p) for p in module.parameters()} == {id(p) for p in inner.parameters()}
        assert len(list(module.parameters())) == 4
        x = torch.randn(5, 2, 3)
        torch.testing.assert_close(module(x), baseline(x)[0])


def test_cuda_graphs_needs_cuda(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--device", "cpu", "--cuda-graphs", "--shapes", "2x3x4x4"])
    assert "--cuda-graphs: needs --device cuda" in capsys.readouterr().err


def test_lengths_benchmark_contenders_agree():
    """scripts/bench_lengths.py times like with like: every contender gives torch's packed output on the valid steps
    (the padded floor on the first row's steps too: rows do not interact)."""
    lengths_bench = load_script("bench_lengths")
    calls, x, _, lengths = lengths_bench.contenders(5, 16, 6, ["aten", "reference"])
    assert 2 <= int(lengths.min()) and int(lengths.max()) <= 16
    valid = (torch.arange(16).unsqueeze(1) < lengths).unsqueeze(-1)
    want = calls["torch packed"](x)
    for name, fn in calls.items():
        got = fn(x)
        if name == "torch padded":
            got = got * valid
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=name)
