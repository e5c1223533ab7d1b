"""Drop-in replacements for ``torch.nn.LSTM`` and ``torch.nn.LSTMCell``.

Parameters have torch's names, shapes, registration order and initialisation, so the same seed gives
the same weights and ``load_state_dict`` works in both directions. The modules deliberately do not
subclass ``torch.nn.LSTM``: TorchDynamo refuses to trace subclasses of it (``allow_rnn=False``), and
``torch.compile(fullgraph=True)`` must work.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.nn._checks import check_input, check_lengths, check_module_args, check_state
from lstmkit.ops.functional import BACKEND_NAMES, lstm, lstm_cell


def _check_backend(backend: str) -> str:
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend: expected one of {list(BACKEND_NAMES)}, got {backend!r}")
    return backend


class LSTM(nn.Module):
    """Multi-layer LSTM with the contract of ``torch.nn.LSTM`` plus ``lengths=`` and a ``backend``.

    ``forward(input, hx=None, *, lengths=None)``: ``input`` is ``(T, B, I)``, ``(B, T, I)`` with
    ``batch_first``, unbatched ``(T, I)``, or a ``PackedSequence`` (then the output is one too).
    ``lengths`` (1-D integers, any device) marks padded input: outputs past each length are zero and
    ``h_n``/``c_n`` are the states at each sequence's last valid step; the reverse direction starts
    at each sequence's own last step. Returns ``output, (h_n, c_n)`` with ``h_n`` of shape
    ``(num_layers * num_directions, B, proj_size or hidden_size)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        check_module_args(input_size, hidden_size, num_layers, dropout, proj_size)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: it is applied between layers", stacklevel=2
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.backend = _check_backend(backend)
        factory = {"device": device, "dtype": dtype}
        num_dirs = 2 if bidirectional else 1
        real_hidden = proj_size or hidden_size
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * num_dirs
            for direction in range(num_dirs):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {f"weight_ih{sfx}": (4 * hidden_size, layer_input),
                          f"weight_hh{sfx}": (4 * hidden_size, real_hidden)}
                if bias:
                    shapes |= {f"bias_ih{sfx}": (4 * hidden_size,), f"bias_hh{sfx}": (4 * hidden_size,)}
                if proj_size:
                    shapes[f"weight_hr{sfx}"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
                self._weight_names.append(list(shapes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.LSTM's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter, in order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self) -> list[list[Tensor]]:
        return [[getattr(self, name) for name in names] for names in self._weight_names]

    def flatten_parameters(self) -> None:
        """No-op, kept so code written for torch.nn.LSTM runs unchanged."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0), ("backend", "auto")):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s

    def forward(self, input, hx: tuple[Tensor, Tensor] | None = None, *, lengths: Tensor | None = None):
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths: must be None when input is a PackedSequence (it carries its lengths)")
            input, lengths = pad_packed_sequence(input, batch_first=False)
            batch_first, unbatched = False, False
        else:
            check_input(input, self.weight_ih_l0, self.input_size, (2, 3))
            batch_first, unbatched = self.batch_first, input.dim() == 2
            if unbatched:
                if lengths is not None:
                    raise ValueError("lengths: not supported for unbatched (2-D) input")
                input = input.unsqueeze(1)
            elif batch_first:
                input = input.transpose(0, 1)
        if packed:
            check_input(input, self.weight_ih_l0, self.input_size, (3,))
        steps, batch = input.shape[0], input.shape[1]
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps)

        num_states = self.num_layers * (2 if self.bidirectional else 1)
        real_hidden = self.proj_size or self.hidden_size
        if hx is None:
            h0 = input.new_zeros(num_states, batch, real_hidden)
            c0 = input.new_zeros(num_states, batch, self.hidden_size)
        else:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"hx: expected a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = hx
            lead = (num_states,) if unbatched else (num_states, batch)
            check_state("hx[0] (h_0)", h0, (*lead, real_hidden), input)
            check_state("hx[1] (c_0)", c0, (*lead, self.hidden_size), input)
            if unbatched:
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)

        output, (h_n, c_n) = lstm(
            input, (h0, c0), self.all_weights, num_layers=self.num_layers, bidirectional=self.bidirectional,
            has_biases=self.bias, has_proj=self.proj_size > 0, dropout=self.dropout, training=self.training,
            lengths=lengths, backend=self.backend,
        )
        if packed:
            return pack_padded_sequence(output, lengths, enforce_sorted=False), (h_n, c_n)
        if unbatched:
            return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if batch_first:
            output = output.transpose(0, 1)
        return output, (h_n, c_n)


class LSTMCell(nn.Module):
    """One LSTM step with the contract of ``torch.nn.LSTMCell``: ``forward(input, hx=None) -> (h_1, c_1)``.

    ``input`` is ``(B, I)`` or unbatched ``(I,)``; ``hx`` is ``(h_0, c_0)``, each ``(B, H)`` or ``(H,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, *,
                 backend: str = "auto") -> None:
        super().__init__()
        check_module_args(input_size, hidden_size, 1, 0.0, 0)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.backend = _check_backend(backend)
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = LSTM.reset_parameters

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s + (f", backend={self.backend!r}" if self.backend != "auto" else "")

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        check_input(input, self.weight_ih, self.input_size, (1, 2))
        unbatched = input.dim() == 1
        if unbatched:
            input = input.unsqueeze(0)
        batch = input.shape[0]
        if hx is None:
            h0, c0 = input.new_zeros(batch, self.hidden_size), input.new_zeros(batch, self.hidden_size)
        else:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"hx: expected a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = hx
            shape = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
            check_state("hx[0] (h_0)", h0, shape, input)
            check_state("hx[1] (c_0)", c0, shape, input)
            if unbatched:
                h0, c0 = h0.unsqueeze(0), c0.unsqueeze(0)
        h1, c1 = lstm_cell(input, (h0, c0), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                           backend=self.backend)
        if unbatched:
            return h1.squeeze(0), c1.squeeze(0)
        return h1, c1
