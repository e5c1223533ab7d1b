"""TraceableLSTM (the eval-mode recurrence as a scan, what gets exported) run eagerly in float64 against lstmkit's
reference backend (variants) and torch.nn.LSTM (vanilla), with and without lengths."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.nn import LSTM, TraceableLSTM

OPTIONS = [{}, {"layer_norm": True}, {"zoneout_cell": 0.2, "zoneout_hidden": 0.1},
           {"layer_norm": True, "zoneout_cell": 0.15, "zoneout_hidden": 0.05, "recurrent_dropout": 0.3,
            "weight_drop": 0.2, "forget_bias": 1.0}]
SHAPES = [(1, False, 0), (1, True, 0), (2, True, 3)]  # num_layers, bidirectional, proj_size
TIGHT = {"rtol": 1e-9, "atol": 1e-11}


@pytest.mark.parametrize("options", OPTIONS, ids=["vanilla", "layer_norm", "zoneout", "all"])
@pytest.mark.parametrize("num_layers,bidirectional,proj_size", SHAPES)
def test_traceable_matches_the_reference_backend(options, num_layers, bidirectional, proj_size):
    torch.manual_seed(0)
    layer = LSTM(4, 5, num_layers=num_layers, bidirectional=bidirectional, proj_size=proj_size, batch_first=True,
                 backend="reference", dtype=torch.float64, **options).eval()
    traceable = TraceableLSTM(layer)
    states = num_layers * (2 if bidirectional else 1)
    x = torch.randn(4, 7, 4, dtype=torch.float64)
    hx = (torch.randn(states, 4, proj_size or 5, dtype=torch.float64), torch.randn(states, 4, 5, dtype=torch.float64))
    for lengths in (None, torch.tensor([7, 3, 5, 1])):
        with torch.no_grad():
            want = layer(x, hx, lengths=lengths)
            got = traceable(x, hx, lengths=lengths)
        torch.testing.assert_close(got, want, **TIGHT)


@pytest.mark.parametrize("bidirectional", (False, True))
def test_traceable_of_torch_lstm_matches_it_on_packed_input(bidirectional):
    torch.manual_seed(1)
    reference = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=bidirectional, dtype=torch.float64).eval()
    x, lengths = torch.randn(8, 3, 3, dtype=torch.float64), torch.tensor([2, 8, 5])
    out, (h_n, c_n) = reference(pack_padded_sequence(x, lengths, enforce_sorted=False))
    got, (h, c) = TraceableLSTM(reference)(x, lengths=lengths)
    torch.testing.assert_close(got, pad_packed_sequence(out, total_length=8)[0], **TIGHT)
    torch.testing.assert_close((h, c), (h_n, c_n), **TIGHT)


def test_traceable_shares_the_layers_parameters_and_names():
    layer = LSTM(3, 4, layer_norm=True)
    traceable = TraceableLSTM(layer)
    assert list(traceable.state_dict()) == list(layer.state_dict())
    assert all(a is b for a, b in zip(traceable.parameters(), layer.parameters()))


def test_traceable_refuses_unbatched_input():
    with pytest.raises(ValueError, match=r"input: expected a 3-D tensor .* got \(5, 3\)"):
        TraceableLSTM(LSTM(3, 4))(torch.zeros(5, 3))
