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
