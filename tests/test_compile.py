"""A model holding lstmkit.nn.LSTM compiles with fullgraph=True and matches eager outputs and gradients."""

import pytest
import torch

from lstmkit.nn import LSTM, LSTMCell


class Tagger(torch.nn.Module):
    def __init__(self, backend):
        super().__init__()
        self.lstm = LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True, backend=backend)
        self.cell = LSTMCell(16, 8, backend=backend)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        h1, _ = self.cell(y[:, -1])
        return self.head(h1 + h[-1])


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_compile_fullgraph_matches_eager(backend):
    torch.manual_seed(0)
    torch._dynamo.reset()
    model = Tagger(backend)
    x = torch.randn(3, 6, 4)
    eager = model(x)
    eager_grads = torch.autograd.grad(eager.square().sum(), list(model.parameters()))
    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-6)
    for g, e in zip(grads, eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)


def test_compile_fullgraph_variant_training_and_inference():
    """The variant ops (training and the no-gradient inference op) trace with fullgraph=True through their fake
    implementations and match eager."""
    torch.manual_seed(0)
    torch._dynamo.reset()
    lstm = LSTM(4, 8, num_layers=2, bidirectional=True, layer_norm=True, zoneout_cell=0.2, backend="reference").eval()
    x = torch.randn(6, 3, 4)
    compiled = torch.compile(lstm, fullgraph=True, backend="aot_eager")
    eager = lstm(x)[0]
    out = compiled(x)[0]
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(out.square().sum(), list(lstm.parameters()))
    for g, e in zip(grads, torch.autograd.grad(eager.square().sum(), list(lstm.parameters()))):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x)[0], eager, rtol=1e-5, atol=1e-6)


def _eager_and_compiled(model, *inputs, seed=0, mode_train=True, backend="aot_eager"):
    """(eager, compiled) outputs and parameter gradients of ``model`` on ``inputs``, both from the same RNG state
    (aot_eager runs the traced aten ops in eager order, so the drawn masks agree)."""
    model.train(mode_train)
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    results = []
    for fn in (model, compiled):
        torch.manual_seed(seed)
        out = fn(*inputs)[0]
        results.append((out, torch.autograd.grad(out.square().sum(), list(model.parameters()))))
    return results


def _counting_backend():
    """A torch.compile backend that keeps the graphs it is given (one per compilation) and runs them as aot_eager."""
    from torch._dynamo.backends.debugging import aot_eager

    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return aot_eager(gm, example_inputs)

    return backend, graphs


# sweeps as one process runs them: a vanilla trial, then trials that differ from the last in a float option
SWEEPS = {
    "zoneout_cell": [{}, *(dict(zoneout_cell=p) for p in (0.1, 0.2, 0.35, 0.5, 0.6))],
    "zoneout_hidden": [dict(zoneout_hidden=0.1), dict(zoneout_hidden=0.3)],
    "recurrent_dropout": [dict(recurrent_dropout=p) for p in (0.1, 0.2, 0.3, 0.4)],
    "weight_drop": [dict(weight_drop=0.2), dict(weight_drop=0.4)],
    "forget_bias": [dict(forget_bias=1.0), dict(forget_bias=2.0)],
    "dropout": [dict(num_layers=2, dropout=0.1), dict(num_layers=2, dropout=0.3)],
    "vanilla_then_layer_norm_zoneout": [{}, dict(layer_norm=True, zoneout_cell=0.15)],
}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("sweep", list(SWEEPS))
def test_layers_with_different_float_options_compile_in_one_process(sweep, training):
    """Each trial's layer differs from the last in a float option (Dynamo then makes that option a symbolic float):
    every compile is fullgraph, matches eager (outputs and gradients), and a sweep over one rate compiles at most
    twice (the first value, then the rate as a symbolic float), not once per value."""
    torch._dynamo.reset()
    x = torch.randn(7, 3, 5)
    backend, graphs = _counting_backend()
    for options in SWEEPS[sweep]:
        torch.manual_seed(1)
        lstm = LSTM(5, 6, backend="reference", **options)
        (eager, eager_grads), (out, grads) = _eager_and_compiled(lstm, x, mode_train=training, backend=backend)
        torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-6, msg=lambda m, o=options: f"{o}: {m}")
        for g, e in zip(grads, eager_grads):
            torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6, msg=lambda m, o=options: f"{o}: {m}")
    # a vanilla trial first is one more structure; torch's dropout takes its rate as a constant, so weight_drop
    # and dropout between layers compile once per value
    limit = len(SWEEPS[sweep]) + 1 if sweep in ("weight_drop", "dropout") else 2 + (SWEEPS[sweep][0] == {})
    assert len(graphs) <= limit, f"{len(graphs)} compilations for {SWEEPS[sweep]}"


class Stack(torch.nn.Module):
    """Several different layers in one model: vanilla, LayerNorm+zoneout, recurrent dropout, a cell."""

    def __init__(self):
        super().__init__()
        self.a = LSTM(4, 6, backend="reference")
        self.b = LSTM(6, 6, layer_norm=True, zoneout_cell=0.1, zoneout_hidden=0.05, backend="reference")
        self.c = LSTM(6, 5, recurrent_dropout=0.25, weight_drop=0.3, bidirectional=True, backend="reference")
        self.cell = LSTMCell(10, 3, zoneout_cell=0.2, backend="reference")

    def forward(self, x):
        y = self.a(x)[0]
        y = self.b(y)[0]
        y = self.c(y)[0]
        return self.cell(y[-1])


@pytest.mark.parametrize("training", [True, False])
def test_model_of_several_different_layers_matches_eager(training):
    torch._dynamo.reset()
    torch.manual_seed(2)
    model = Stack()
    (eager, eager_grads), (out, grads) = _eager_and_compiled(model, torch.randn(6, 2, 4), mode_train=training)
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-6)
    for g, e in zip(grads, eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("options", [{}, dict(layer_norm=True, zoneout_cell=0.1)])
def test_varying_sequence_length_and_batch_recompile_at_most_once(options):
    """Ten batches of different T (and batch sizes, and lengths) compile at most twice: the first static graph,
    then one with dynamic shapes."""
    torch._dynamo.reset()
    lstm = LSTM(3, 4, batch_first=True, backend="reference", **options)
    backend, graphs = _counting_backend()
    compiled = torch.compile(lstm, fullgraph=True, backend=backend)
    for i, steps in enumerate([5, 9, 12, 3, 17, 8, 21, 6, 14, 11]):
        batch = 2 + i % 3
        lengths = torch.randint(1, steps + 1, (batch,))
        out, _ = compiled(torch.randn(batch, steps, 3), lengths=lengths)
        assert out.shape == (batch, steps, 4)
    assert 1 <= len(graphs) <= 2, f"{len(graphs)} compilations for ten batches"


def _recurrence_ops(graph_module, suffix):
    return [n for n in graph_module.graph.nodes
            if n.op == "call_function" and str(n.target).startswith("lstmkit.") and str(n.target).endswith(suffix)]


@pytest.mark.parametrize("options", [{}, dict(layer_norm=True, zoneout_cell=0.1, recurrent_dropout=0.2)])
def test_compiled_graph_holds_one_recurrence_op_per_layer_and_direction(options):
    """Under torch.compile each layer/direction is one opaque node forward (and one backward), vanilla or not."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    torch._dynamo.reset()
    captured = {}

    def capture(name):
        def compiler(gm, example_inputs):
            captured[name] = gm
            return make_boxed_func(gm.forward)
        return compiler

    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, backend="reference", **options)
    compiled = torch.compile(lstm, fullgraph=True, backend=aot_autograd(fw_compiler=capture("fw"),
                                                                        bw_compiler=capture("bw")))
    compiled(torch.randn(5, 2, 3))[0].sum().backward()
    assert len(_recurrence_ops(captured["fw"], "recurrence_fwd.default")) == 4
    assert len(_recurrence_ops(captured["bw"], "recurrence_bwd.default")) == 4
    # the time loop is inside the op: no gate activation appears in the graph (only the input projections' GEMMs)
    assert not [n for n in captured["fw"].graph.nodes if any(a in str(n.target) for a in ("sigmoid", "tanh"))]
