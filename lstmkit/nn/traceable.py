"""The eval-mode LSTM recurrence in plain torch ops, for ``torch.export`` and ``torch.onnx.export``.

:class:`TraceableLSTM` wraps an :class:`lstmkit.nn.LSTM` (any variant) or a ``torch.nn.LSTM`` and runs what their
eval mode runs: the input projection as one matmul, then ``torch._higher_order_ops.scan`` over the steps of the
eval-mode step function of docs/VARIANTS.md (LayerNorm; zoneout at its expectation ``z = p``, the output reading
the new cell ĉ before zoneout; dropouts off). A scan traces to one loop whose trip count is the input's:
``torch.export`` keeps batch and sequence length dynamic, and the ONNX exporter writes an ONNX ``Scan`` (a Python
loop would unroll to a fixed length; ONNX's ``LSTM`` operator has no LayerNorm or zoneout). Run eagerly, the same
step function runs in a Python loop. Parameters are the wrapped layer's own tensors, under the same names.

``lengths`` work as in PyTorch's eval: outputs past each length are zero, ``h_n``/``c_n`` are the states at each
sequence's last valid step, and the reverse direction starts at each sequence's own last step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch._higher_order_ops.scan import scan

from lstmkit.ops.functional import VANILLA
from lstmkit.ops.variants import EPS


class TraceableLSTM(nn.Module):
    """``forward(input, hx=None, *, lengths=None) -> output, (h_n, c_n)`` with the shapes of ``torch.nn.LSTM``:
    ``input (T, B, I)`` (``(B, T, I)`` with ``batch_first``), ``hx = (h_0 (L·D, B, R), c_0 (L·D, B, H))``,
    ``lengths (B,)`` integers in ``[1, T]``. Eval mode only: zoneout uses its rate, dropouts are off.

    Args:
        layer: the :class:`lstmkit.nn.LSTM` or ``torch.nn.LSTM`` whose parameters (shared) and options it runs.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        for name in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "proj_size"):
            setattr(self, name, getattr(layer, name))
        self.variant = getattr(layer, "variant", VANILLA)
        self.directions = 2 if self.bidirectional else 1
        for name, parameter in layer.named_parameters(recurse=False):
            self.register_parameter(name, parameter)

    def extra_repr(self) -> str:
        options = f", {self.variant.description}" if self.variant.description else ""
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, proj_size={self.proj_size}{options}")

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None, *,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if not isinstance(input, Tensor) or input.dim() != 3:
            raise ValueError(f"input: expected a 3-D tensor (batched; no PackedSequence), got "
                             f"{tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__}")
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        steps, batch = x.shape[0], x.shape[1]
        states = self.num_layers * self.directions
        if hx is None:
            h0 = x.new_zeros(states, batch, self.proj_size or self.hidden_size)
            c0 = x.new_zeros(states, batch, self.hidden_size)
        else:
            h0, c0 = hx
        valid = rev_idx = None
        if lengths is not None:
            t = torch.arange(steps, device=x.device).unsqueeze(1)  # (T, 1)
            lengths = lengths.to(x.device, torch.int64).unsqueeze(0)  # (1, B)
            valid = (t < lengths).unsqueeze(-1)  # (T, B, 1)
            rev_idx = torch.where(t < lengths, lengths - 1 - t, t)  # reverses each sequence within its length
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                k = layer * self.directions + direction
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                x_dir = x if direction == 0 else _reverse(x, rev_idx)
                y, (h, c) = self._layer(x_dir, h0[k], c0[k], valid, sfx)
                outputs.append(y if direction == 0 else _reverse(y, rev_idx))
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outputs, -1) if self.directions == 2 else outputs[0]
        output = x.transpose(0, 1) if self.batch_first else x
        return output, (torch.stack(h_n), torch.stack(c_n))

    def _layer(self, x: Tensor, h0: Tensor, c0: Tensor, valid: Tensor | None,
               sfx: str) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One layer and direction: ``x (T, B, I)`` in processing order → ``y (T, B, R)``, final ``(h, c)``."""
        v = self.variant
        four_h = 4 * self.hidden_size
        w_hh = getattr(self, f"weight_hh{sfx}")
        w_hr = getattr(self, f"weight_hr{sfx}") if self.proj_size else None
        bias = getattr(self, f"bias_ih{sfx}") + getattr(self, f"bias_hh{sfx}") if self.bias else None
        if v.layer_norm:
            ln_h, ln_c = getattr(self, f"layer_norm_hh{sfx}"), getattr(self, f"layer_norm_c_weight{sfx}")
            ln_c_bias = getattr(self, f"layer_norm_c_bias{sfx}")
            pre = F.layer_norm(F.linear(x, getattr(self, f"weight_ih{sfx}")), (four_h,),
                               getattr(self, f"layer_norm_ih{sfx}"), bias, EPS)  # (T, B, 4H)
        else:
            pre = F.linear(x, getattr(self, f"weight_ih{sfx}"), bias)

        def step(carry, inputs):
            h, c = carry  # (B, R), (B, H)
            r = h @ w_hh.t()
            a = inputs[0] + (F.layer_norm(r, (four_h,), ln_h, None, EPS) if v.layer_norm else r)
            i, f, g, o = a.chunk(4, -1)
            candidate = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # ĉ: what the output sees
            seen = F.layer_norm(candidate, (self.hidden_size,), ln_c, ln_c_bias, EPS) if v.layer_norm else candidate
            c_new = torch.lerp(candidate, c, v.zoneout_cell) if v.zoneout_cell else candidate  # the carried c_t
            h_new = torch.sigmoid(o) * torch.tanh(seen)
            if w_hr is not None:
                h_new = h_new @ w_hr.t()
            if v.zoneout_hidden:
                h_new = torch.lerp(h_new, h, v.zoneout_hidden)
            if valid is None:
                return (h_new, c_new), h_new.clone()
            keep = inputs[1]  # (B, 1): rows past their length keep their state and output zeros
            h_new, c_new = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            return (h_new, c_new), torch.where(keep, h_new, torch.zeros_like(h_new))

        xs = [pre] if valid is None else [pre, valid]
        if torch.compiler.is_exporting() or torch.compiler.is_compiling():
            (h, c), y = scan(step, (h0, c0), xs)
            return y, (h, c)
        # eager: the same step in a Python loop (an eager scan compiles its body first, seconds per new shape)
        carry, ys = (h0, c0), []
        for t in range(pre.shape[0]):
            carry, y_t = step(carry, [x[t] for x in xs])
            ys.append(y_t)
        return torch.stack(ys), carry


def _reverse(seq: Tensor, rev_idx: Tensor | None) -> Tensor:
    """``seq (T, B, F)`` reversed in time, each sequence within its own length when ``rev_idx (T, B)`` is given."""
    if rev_idx is None:
        return seq.flip(0)
    return seq.gather(0, rev_idx.unsqueeze(-1).expand(-1, -1, seq.shape[-1]))
