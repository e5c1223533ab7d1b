"""Bad input gets a clear error naming the argument, the expected and the received value."""

import pytest
import torch

from lstmkit.nn import LSTM, LSTMCell


@pytest.fixture
def lstm():
    return LSTM(4, 6, num_layers=2)


@pytest.mark.parametrize("make_input, match", [
    (lambda: torch.randn(2, 3, 4, 5), r"input: expected a 2-D or 3-D tensor, got 4-D"),
    (lambda: torch.randn(7), r"input: expected a 2-D or 3-D tensor, got 1-D"),
    (lambda: torch.randn(5, 3, 2), r"input: expected the last dimension to be input_size=4, got shape \(5, 3, 2\)"),
    (lambda: torch.ones(5, 3, 4, dtype=torch.int64), r"input: expected a floating-point tensor, got dtype torch.int64"),
    (lambda: torch.randn(5, 3, 4, dtype=torch.float64), r"input: expected dtype torch.float32"),
    (lambda: torch.randn(5, 3, 4, device="meta"), r"input: expected a tensor on cpu .* got meta"),
    (lambda: torch.randn(0, 3, 4), r"input: expected at least one time step, got shape \(0, 3, 4\)"),
])
def test_bad_input(lstm, make_input, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lstm(make_input())


@pytest.mark.parametrize("h0, c0, match", [
    (torch.zeros(1, 3, 6), torch.zeros(2, 3, 6), r"hx\[0\] \(h_0\): expected shape \(2, 3, 6\), got \(1, 3, 6\)"),
    (torch.zeros(2, 3, 6), torch.zeros(2, 4, 6), r"hx\[1\] \(c_0\): expected shape \(2, 3, 6\), got \(2, 4, 6\)"),
    (torch.zeros(2, 3, 6, dtype=torch.float64), torch.zeros(2, 3, 6), r"hx\[0\] \(h_0\): expected dtype torch.float32"),
    (torch.zeros(2, 3, 6), torch.zeros(2, 3, 6, device="meta"), r"hx\[1\] \(c_0\): expected a tensor on cpu"),
])
def test_bad_state(lstm, h0, c0, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lstm(torch.randn(5, 3, 4), (h0, c0))


def test_state_not_a_pair(lstm):
    with pytest.raises(TypeError, match=r"hx: expected a tuple \(h_0, c_0\), got Tensor"):
        lstm(torch.randn(5, 3, 4), torch.zeros(2, 3, 6))


@pytest.mark.parametrize("lengths, match", [
    (torch.tensor([5, 0, 2]), r"lengths: expected every length >= 1, got minimum 0"),
    (torch.tensor([5, -1, 2]), r"lengths: expected every length >= 1, got minimum -1"),
    (torch.tensor([5, 6, 2]), r"lengths: expected every length <= 5 \(the input's time steps\), got maximum 6"),
    (torch.tensor([5, 2]), r"lengths: expected shape \(3,\) \(one per sequence\), got \(2,\)"),
    (torch.tensor([[5, 2, 1]]), r"lengths: expected shape \(3,\)"),
    (torch.tensor([5.0, 2.0, 1.0]), r"lengths: expected an integer tensor, got dtype torch.float32"),
])
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_bad_lengths(lengths, match, backend):
    lstm = LSTM(4, 6, backend=backend)
    with pytest.raises((ValueError, TypeError), match=match):
        lstm(torch.randn(5, 3, 4), lengths=lengths)


def test_lengths_with_packed_or_unbatched_input(lstm):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 4), torch.tensor([5, 3]))
    with pytest.raises(ValueError, match="lengths: must be None when input is a PackedSequence"):
        lstm(packed, lengths=torch.tensor([5, 3]))
    with pytest.raises(ValueError, match="lengths: not supported for unbatched"):
        lstm(torch.randn(5, 4), lengths=torch.tensor([5]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_size=0, hidden_size=4), r"input_size: expected an int >= 1, got 0"),
    (dict(input_size=3, hidden_size=2.5), r"hidden_size: expected an int >= 1, got 2.5"),
    (dict(input_size=3, hidden_size=4, num_layers=0), r"num_layers: expected an int >= 1, got 0"),
    (dict(input_size=3, hidden_size=4, dropout=1.5), r"dropout: expected a number in \[0, 1\], got 1.5"),
    (dict(input_size=3, hidden_size=4, proj_size=4), r"proj_size: expected 0 or a value < hidden_size=4, got 4"),
    (dict(input_size=3, hidden_size=4, backend="cudnn"), (
        r"backend: expected one of \['auto', 'aten', 'reference', 'triton'\], got 'cudnn'")),
])
def test_bad_constructor_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTM(**kwargs)


def test_cell_errors():
    cell = LSTMCell(4, 6)
    with pytest.raises(ValueError, match=r"input: expected a 1-D or 2-D tensor, got 3-D"):
        cell(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"hx\[0\] \(h_0\): expected shape \(3, 6\), got \(3, 5\)"):
        cell(torch.randn(3, 4), (torch.zeros(3, 5), torch.zeros(3, 6)))
    with pytest.raises(ValueError, match=r"backend: expected one of"):
        LSTMCell(4, 6, backend="nope")


def test_explicit_backend_that_cannot_serve_names_both():
    lstm = LSTM(4, 6, proj_size=2, backend="triton")
    with pytest.raises(ValueError, match=r"backend='triton' cannot run this configuration: proj_size"):
        lstm(torch.randn(5, 3, 4))
