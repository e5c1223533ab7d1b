"""Conversion between lstmkit's layers and torch.nn.LSTM / torch.nn.LSTMCell, checked against torch's modules
themselves: weights, outputs (lstmkit's reference backend, so torch's kernels are not compared with themselves)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.models.language_model import LSTMLanguageModel
from lstmkit.nn import LSTM, LSTMCell, TraceableLSTM, convert

GRID = list(itertools.product((1, 2), (False, True), (0, 3), (False, True), (True, False)))


def _inputs(batch_first: bool, batch=4, steps=6, size=5, dtype=torch.float64):
    shape = (batch, steps, size) if batch_first else (steps, batch, size)
    return torch.randn(shape, dtype=dtype)


@pytest.mark.parametrize("num_layers,bidirectional,proj_size,batch_first,bias", GRID)
def test_from_torch_and_back_matches_torch(num_layers, bidirectional, proj_size, batch_first, bias):
    torch.manual_seed(0)
    reference = nn.LSTM(5, 7, num_layers, bias, batch_first, 0.0, bidirectional, proj_size, dtype=torch.float64)
    layer = LSTM.from_torch(reference, backend="reference")
    assert layer.backend == "reference" and layer.batch_first == batch_first and layer.proj_size == proj_size
    x = _inputs(batch_first)
    states = num_layers * (2 if bidirectional else 1)
    hx = (torch.randn(states, 4, proj_size or 7, dtype=torch.float64), torch.randn(states, 4, 7, dtype=torch.float64))
    expected, (h_n, c_n) = reference(x, hx)
    got, (h, c) = layer(x, hx)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close((h, c), (h_n, c_n), rtol=1e-10, atol=1e-12)

    back = layer.to_torch()
    assert type(back) is nn.LSTM
    assert str(back) == str(reference)
    assert back.state_dict().keys() == reference.state_dict().keys()
    for name, value in reference.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
        assert back.state_dict()[name].data_ptr() != value.data_ptr(), f"{name}: expected a copy"


@pytest.mark.parametrize("bidirectional", (False, True))
def test_converted_layer_with_lengths_matches_torch_packed(bidirectional):
    torch.manual_seed(1)
    layer = LSTM(5, 6, num_layers=2, bidirectional=bidirectional, batch_first=True, backend="reference",
                 dtype=torch.float64)
    torch_layer = layer.to_torch()
    x, lengths = _inputs(True), torch.tensor([6, 2, 4, 1])
    packed_out, (h_n, c_n) = torch_layer(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=6)
    got, (h, c) = layer(x, lengths=lengths)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close((h, c), (h_n, c_n), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bias", (True, False))
def test_cell_round_trip_matches_torch(bias):
    torch.manual_seed(2)
    reference = nn.LSTMCell(5, 6, bias, dtype=torch.float64)
    cell = LSTMCell.from_torch(reference, backend="reference")
    x, hx = torch.randn(3, 5, dtype=torch.float64), (torch.randn(3, 6, dtype=torch.float64),) * 2
    torch.testing.assert_close(cell(x, hx), reference(x, hx), rtol=1e-10, atol=1e-12)
    back = cell.to_torch()
    assert type(back) is nn.LSTMCell and back.bias == bias
    torch.testing.assert_close(back(x, hx), reference(x, hx), rtol=0, atol=0)


def test_conversion_keeps_mode_device_and_dtype():
    layer = LSTM(3, 4, dtype=torch.float64).eval()
    converted = layer.to_torch()
    assert not converted.training and converted.weight_ih_l0.dtype == torch.float64
    assert LSTM.from_torch(converted.train()).training


@pytest.mark.parametrize("option,value", [("layer_norm", True), ("zoneout_cell", 0.1), ("zoneout_hidden", 0.2),
                                          ("recurrent_dropout", 0.3), ("weight_drop", 0.4)])
def test_variants_refuse_to_torch_naming_the_option(option, value):
    for layer in (LSTM(3, 4, **{option: value}), LSTMCell(3, 4, **{option: value})):
        with pytest.raises(ValueError, match=f"{option}={value!r}"):
            layer.to_torch()


def test_forget_bias_converts_with_its_biases():
    layer = LSTM(3, 4, forget_bias=1.0)
    torch_layer = layer.to_torch()
    total = torch_layer.bias_ih_l0[4:8] + torch_layer.bias_hh_l0[4:8]
    torch.testing.assert_close(total, torch.ones(4))


def test_from_torch_with_layer_norm_keeps_torch_weights_and_initialises_the_gains():
    reference = nn.LSTM(3, 4, num_layers=2)
    layer = LSTM.from_torch(reference, layer_norm=True)
    for name, value in reference.state_dict().items():
        assert torch.equal(getattr(layer, name), value)
    assert torch.equal(layer.layer_norm_ih_l1, torch.ones(16))
    assert torch.equal(layer.layer_norm_c_bias_l0, torch.zeros(4))


def test_from_torch_refuses_bad_arguments():
    with pytest.raises(TypeError, match="expected a torch.nn.LSTM, got GRU"):
        LSTM.from_torch(nn.GRU(3, 4))
    with pytest.raises(TypeError, match=r"unexpected options \['forget_bias'\]"):
        LSTM.from_torch(nn.LSTM(3, 4), forget_bias=1.0)
    with pytest.raises(TypeError, match="expected a torch.nn.LSTMCell, got LSTM"):
        LSTMCell.from_torch(nn.LSTM(3, 4))


def test_convert_swaps_every_layer_of_a_model_and_back():
    torch.manual_seed(3)
    model = LSTMLanguageModel(20, 8, 8, num_layers=2).eval()
    tokens = torch.randint(0, 20, (3, 9))
    expected, _ = model(tokens)
    as_torch = convert(model, to="torch")
    assert type(as_torch.lstm) is nn.LSTM and type(model.lstm) is LSTM, "the model itself must be left untouched"
    torch.testing.assert_close(as_torch(tokens)[0], expected)
    back = convert(as_torch, to="lstmkit", backend="reference")
    assert type(back.lstm) is LSTM and back.lstm.backend == "reference"
    torch.testing.assert_close(back(tokens)[0], expected, rtol=1e-5, atol=1e-6)
    assert type(convert(model, to="export").lstm) is TraceableLSTM
    inplace = convert(model, to="torch", inplace=True)
    assert inplace is model and type(model.lstm) is nn.LSTM


def test_convert_refuses_bad_arguments():
    with pytest.raises(ValueError, match="to: expected one of"):
        convert(nn.Linear(2, 2), to="onnx")
    with pytest.raises(TypeError, match="only to='lstmkit' takes layer options"):
        convert(nn.Linear(2, 2), to="torch", backend="aten")
