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

from lstmkit.nn._checks import (
    check_forget_bias,
    check_input,
    check_lengths,
    check_module_args,
    check_resets,
    check_state,
    make_variant,
)
from lstmkit.ops.functional import BACKEND_NAMES, lstm, resolve_backend


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
        layer_norm: bool = False,
        zoneout_cell: float = 0.0,
        zoneout_hidden: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        forget_bias: float = 0.0,
    ) -> None:
        super().__init__()
        check_module_args(input_size, hidden_size, num_layers, dropout, proj_size)
        self.variant = make_variant(layer_norm, zoneout_cell, zoneout_hidden, recurrent_dropout, weight_drop)
        self.forget_bias = check_forget_bias(forget_bias, bias)
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
        # LayerNorm gains/biases come after torch's parameters, so torch's keep their order and init
        for names in self._weight_names if layer_norm else []:
            sfx = names[0][len("weight_ih"):]
            shapes = {f"layer_norm_ih{sfx}": 4 * hidden_size, f"layer_norm_hh{sfx}": 4 * hidden_size,
                      f"layer_norm_c_weight{sfx}": hidden_size, f"layer_norm_c_bias{sfx}": hidden_size}
            for name, size in shapes.items():
                self.register_parameter(name, nn.Parameter(torch.empty(size, **factory)))
            names.extend(shapes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initialisation, U(-1/sqrt(H), 1/sqrt(H)) in registration order, for torch's parameters;
        LayerNorm gains 1 and biases 0; then the forget-gate bias if ``forget_bias`` is set."""
        reset_lstm_parameters(self, self.hidden_size, self.forget_bias)

    @property
    def all_weights(self) -> list[list[Tensor]]:
        return [[getattr(self, name) for name in names] for names in self._weight_names]

    def flatten_parameters(self) -> None:
        """No-op, kept so code written for torch.nn.LSTM runs unchanged."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0), ("backend", "auto"), ("forget_bias", 0.0)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s + (f", {self.variant.description}" if self.variant.description else "")

    def forward(self, input, hx: tuple[Tensor, Tensor] | None = None, *, lengths: Tensor | None = None,
                resets: Tensor | None = None, masks: dict | None = None):
        """``resets``: bool ``(T, B)`` (``(B, T)`` with batch_first, ``(T,)`` unbatched; time-major ``(T, B)``
        for a PackedSequence): where true, the state entering step t is zeroed (the reverse direction
        zeroes its state entering step t-1, see :func:`lstmkit.ops.functional._reverse_resets`).
        ``masks``: optional ``{(layer, direction): {...}}`` replacing the randomly drawn variant masks
        (see :func:`lstmkit.ops.functional.lstm`) — for tests and exact replays."""
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths: must be None when input is a PackedSequence (it carries its lengths)")
            input, lengths = pad_packed_sequence(input, batch_first=False)
            batch_first, unbatched = False, False
        else:
            check_input(input, self.weight_ih_l0, self.input_size, (2, 3))
            given_shape = tuple(input.shape)
            batch_first, unbatched = self.batch_first, input.dim() == 2
            if unbatched:
                if lengths is not None:
                    raise ValueError("lengths: not supported for unbatched (2-D) input")
                input = input.unsqueeze(1)
            elif batch_first:
                input = input.transpose(0, 1)
        if packed:
            check_input(input, self.weight_ih_l0, self.input_size, (3,))
            given_shape = tuple(input.shape)
        steps, batch = input.shape[0], input.shape[1]
        if steps == 0:
            raise ValueError(f"input: expected at least one time step, got shape {given_shape}")
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps)
            if batch == 0:  # no sequence to mask: the result of the unpadded call (torch cannot pack an empty batch)
                lengths = None
        if resets is not None:
            resets = check_resets(resets, steps, batch, batch_first, unbatched)

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
            lengths=lengths, backend=self.backend, variant=self.variant, resets=resets, masks=masks,
        )
        if packed:
            return pack_padded_sequence(output, lengths, enforce_sorted=False), (h_n, c_n)
        if unbatched:
            return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if batch_first:
            output = output.transpose(0, 1)
        return output, (h_n, c_n)

    def to_torch(self) -> nn.LSTM:
        """A ``torch.nn.LSTM`` with this layer's configuration, weights (copied), device, dtype and train/eval mode.
        Raises ``ValueError`` naming the variant option that torch has no equivalent of."""
        from lstmkit.nn.convert import refuse_variant

        refuse_variant(self)
        weight = self.weight_ih_l0
        module = nn.LSTM(self.input_size, self.hidden_size, self.num_layers, self.bias, self.batch_first,
                         self.dropout, self.bidirectional, self.proj_size, device=weight.device, dtype=weight.dtype)
        module.load_state_dict(self.state_dict())
        return module.train(self.training)

    @classmethod
    def from_torch(cls, module: nn.LSTM, **options) -> LSTM:
        """An :class:`LSTM` with ``module``'s configuration and weights (copied); ``options`` are this class's
        keyword-only options (``backend``, ``layer_norm``, ``zoneout_cell``, …: new LayerNorm parameters start at
        their initial values)."""
        from lstmkit.nn.convert import check_torch_module, load_torch_weights

        check_torch_module(module, nn.LSTM, options)
        weight = module.weight_ih_l0
        new = cls(module.input_size, module.hidden_size, module.num_layers, module.bias, module.batch_first,
                  module.dropout, module.bidirectional, module.proj_size, device=weight.device, dtype=weight.dtype,
                  **options)
        return load_torch_weights(new, module)


class LSTMCell(nn.Module):
    """One LSTM step with the contract of ``torch.nn.LSTMCell``: ``forward(input, hx=None) -> (h_1, c_1)``.

    ``input`` is ``(B, I)`` or unbatched ``(I,)``; ``hx`` is ``(h_0, c_0)``, each ``(B, H)`` or ``(H,)``.
    Takes the variant options of :class:`LSTM`; a cell sees one step, so its recurrent-dropout and
    DropConnect masks are drawn anew at every call (pass ``masks=`` to hold them over a sequence).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, *,
                 backend: str = "auto", layer_norm: bool = False, zoneout_cell: float = 0.0,
                 zoneout_hidden: float = 0.0, recurrent_dropout: float = 0.0, weight_drop: float = 0.0,
                 forget_bias: float = 0.0) -> None:
        super().__init__()
        check_module_args(input_size, hidden_size, 1, 0.0, 0)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.backend = _check_backend(backend)
        self.variant = make_variant(layer_norm, zoneout_cell, zoneout_hidden, recurrent_dropout, weight_drop)
        self.forget_bias = check_forget_bias(forget_bias, bias)
        factory = {"device": device, "dtype": dtype}
        shapes = {"weight_ih": (4 * hidden_size, input_size), "weight_hh": (4 * hidden_size, hidden_size)}
        if bias:
            shapes |= {"bias_ih": (4 * hidden_size,), "bias_hh": (4 * hidden_size,)}
        if layer_norm:
            shapes |= {"layer_norm_ih": (4 * hidden_size,), "layer_norm_hh": (4 * hidden_size,),
                       "layer_norm_c_weight": (hidden_size,), "layer_norm_c_bias": (hidden_size,)}
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self._weight_names = [list(shapes)]
        self.reset_parameters()

    reset_parameters = LSTM.reset_parameters

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        s += f", backend={self.backend!r}" if self.backend != "auto" else ""
        s += f", forget_bias={self.forget_bias}" if self.forget_bias else ""
        return s + (f", {self.variant.description}" if self.variant.description else "")

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None, *,
                masks: dict | None = None) -> tuple[Tensor, Tensor]:
        """``masks``: optional ``{name: tensor}`` replacing drawn masks: ``zoneout_c``/``zoneout_h`` (B, H),
        ``dropout_mask`` (B, H), ``weight_drop`` (4H, H)."""
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
        weights = [[getattr(self, name) for name in self._weight_names[0]]]
        vanilla = not masks and not self.variant.active
        if vanilla and resolve_backend(self.backend, input.device, dtype=input.dtype,
                                       hidden_size=self.hidden_size) == "aten":
            # aten's fused cell, as torch.nn.LSTMCell runs it: on CPU the oneDNN sequence kernel that a one-step
            # sequence would take spends most of a call on set-up (figures: docs/DESIGN.md §1)
            w_ih, w_hh, *biases = weights[0]
            h1, c1 = torch._VF.lstm_cell(input, (h0, c0), w_ih, w_hh, *(biases or (None, None)))
            return (h1.squeeze(0), c1.squeeze(0)) if unbatched else (h1, c1)
        if masks:  # a one-step sequence: zoneout masks gain the time dimension
            masks = {(0, 0): {k: v.unsqueeze(0) if k.startswith("zoneout") else v for k, v in masks.items()}}
        _, (h1, c1) = lstm(input.unsqueeze(0), (h0.unsqueeze(0), c0.unsqueeze(0)), weights, num_layers=1,
                           bidirectional=False, has_biases=self.bias, has_proj=False, training=self.training,
                           backend=self.backend, variant=self.variant, masks=masks)
        h1, c1 = h1[0], c1[0]
        if unbatched:
            return h1.squeeze(0), c1.squeeze(0)
        return h1, c1

    def to_torch(self) -> nn.LSTMCell:
        """A ``torch.nn.LSTMCell`` with this cell's sizes, weights (copied), device, dtype and train/eval mode.
        Raises ``ValueError`` naming the variant option that torch has no equivalent of."""
        from lstmkit.nn.convert import refuse_variant

        refuse_variant(self)
        weight = self.weight_ih
        module = nn.LSTMCell(self.input_size, self.hidden_size, self.bias, device=weight.device, dtype=weight.dtype)
        module.load_state_dict(self.state_dict())
        return module.train(self.training)

    @classmethod
    def from_torch(cls, module: nn.LSTMCell, **options) -> LSTMCell:
        """An :class:`LSTMCell` with ``module``'s sizes and weights (copied); ``options`` as for
        :meth:`LSTM.from_torch`."""
        from lstmkit.nn.convert import check_torch_module, load_torch_weights

        check_torch_module(module, nn.LSTMCell, options)
        weight = module.weight_ih
        new = cls(module.input_size, module.hidden_size, module.bias, device=weight.device, dtype=weight.dtype,
                  **options)
        return load_torch_weights(new, module)


def reset_lstm_parameters(module: nn.Module, hidden_size: int, forget_bias: float) -> None:
    """torch's LSTM initialisation for torch's parameters (U(-1/sqrt(H), 1/sqrt(H)), in registration
    order, so a seed gives torch's numbers); LayerNorm gains 1, biases 0; forget-gate bias split evenly
    between ``bias_ih`` and ``bias_hh`` so that their sum is ``forget_bias`` (when non-zero)."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for name, weight in module.named_parameters():
            if name.startswith("layer_norm_c_bias"):
                weight.zero_()
            elif name.startswith("layer_norm"):
                weight.fill_(1.0)
            else:
                weight.uniform_(-bound, bound)
        if forget_bias:
            for name, weight in module.named_parameters():
                if name.startswith(("bias_ih", "bias_hh")):
                    weight[hidden_size : 2 * hidden_size] = forget_bias / 2
