"""``lstmkit.nn.keras_init_`` starts layers as Keras 3's defaults do, checked against the definitions of those
initialisers (orthonormal recurrent kernels, Glorot's bound, the forget-gate bias of ``unit_forget_bias``), and
``LSTMForecaster(init="keras")`` applies it."""

from __future__ import annotations

import pytest
import torch

from lstmkit.models.forecasting import LSTMForecaster
from lstmkit.nn import LSTM, LSTMCell, keras_init_


def glorot_bound(fan_in: int, fan_out: int) -> float:
    return (6 / (fan_in + fan_out)) ** 0.5


@pytest.mark.parametrize("lstm", [LSTM, torch.nn.LSTM])
def test_lstm_layers_start_as_keras_does(lstm):
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"lstm": lstm(3, 8, num_layers=2, bidirectional=True, batch_first=True),
                               "cell": LSTMCell(3, 8), "head": torch.nn.Linear(16, 2),
                               "conv": torch.nn.Conv1d(3, 5, kernel_size=4), "embedding": torch.nn.Embedding(11, 3),
                               "norm": torch.nn.LayerNorm(4)})
    assert keras_init_(net) is net
    for layer, suffix in [(net["lstm"], s) for s in ("_l0", "_l1", "_l0_reverse", "_l1_reverse")] + [(net["cell"], "")]:
        hh = getattr(layer, f"weight_hh{suffix}").detach().double()  # (32, 8)
        torch.testing.assert_close(hh.T @ hh, torch.eye(8, dtype=torch.float64), rtol=0, atol=1e-5)
        expected = torch.zeros(32)
        expected[8:16] = 1.0  # gates i, f, g, o: 1 on the forget gate, as Keras's unit_forget_bias
        torch.testing.assert_close(getattr(layer, f"bias_ih{suffix}").detach(), expected, rtol=0, atol=0)
        assert not getattr(layer, f"bias_hh{suffix}").any()
        ih = getattr(layer, f"weight_ih{suffix}").detach()
        assert ih.abs().max() <= glorot_bound(ih.shape[1], 32)
        assert ih.abs().max() > 0.8 * glorot_bound(ih.shape[1], 32)  # drawn over the whole range, not PyTorch's
    assert net["head"].weight.abs().max() <= glorot_bound(16, 2) and not net["head"].bias.any()
    assert net["conv"].weight.abs().max() <= glorot_bound(3 * 4, 5 * 4) and not net["conv"].bias.any()
    assert 0 < net["embedding"].weight.abs().max() <= 0.05
    assert torch.equal(net["norm"].weight, torch.ones(4))  # other layers keep their weights


def test_forecaster_init_option():
    torch.manual_seed(0)
    net = LSTMForecaster(input_size=1, hidden_size=6, num_layers=2, init="keras")
    assert net.lstm.bias_ih_l1[6:12].eq(1).all() and not net.head.bias.any()
    torch.manual_seed(0)
    assert LSTMForecaster(input_size=1, hidden_size=6, num_layers=2).lstm.bias_ih_l1[6:12].ne(1).all()
    with pytest.raises(ValueError, match="init: expected one of"):
        LSTMForecaster(init="tensorflow")
