"""Functional multi-layer LSTM and LSTM cell with backend dispatch (DESIGN §1).

``lstm`` takes time-major padded input ``(T, B, I)``; the ``nn`` modules handle batch_first,
unbatched and PackedSequence input and validate arguments before calling here.

Backends:
- ``"aten"``: torch's own kernels (oneDNN on CPU, cuDNN on CUDA); vanilla LSTMs only.
- ``"reference"``: :mod:`lstmkit.ops.reference` through :class:`LSTMRecurrence`; every configuration,
  any device.
- ``"triton"``: fused Triton kernels (registered by ``lstmkit.ops.triton_backend`` when available).
- ``"auto"``: triton on CUDA when available; aten for vanilla configurations otherwise; reference
  for the rest, and under ``torch.compile`` on CPU (inductor cannot compile aten's oneDNN LSTM).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.ops.recurrence import _BACKENDS, recurrence

BACKEND_NAMES = ("auto", "aten", "reference", "triton")


def resolve_backend(
    backend: str, device: torch.device, *, has_proj: bool = False, unsupported_by_aten: str | None = None
) -> str:
    """Map a requested backend to the one that runs; ``unsupported_by_aten`` names a feature aten lacks."""
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend: expected one of {list(BACKEND_NAMES)}, got {backend!r}")
    if backend == "auto":
        if device.type == "cuda" and "triton" in _BACKENDS:
            if not _BACKENDS["triton"].unsupported(device=device, has_proj=has_proj):
                return "triton"
        if unsupported_by_aten is None and not torch.compiler.is_compiling():
            return "aten"
        return "reference"
    if backend == "aten":
        if unsupported_by_aten is not None:
            raise ValueError(
                f"backend='aten' cannot run this configuration ({unsupported_by_aten}); "
                "use backend='reference' or 'auto'"
            )
        return backend
    if backend not in _BACKENDS:
        raise ValueError(
            f"backend={backend!r} is not available here (available: aten, {', '.join(sorted(_BACKENDS))}); "
            "the triton backend needs the triton package and a CUDA device, or TRITON_INTERPRET=1"
        )
    reason = _BACKENDS[backend].unsupported(device=device, has_proj=has_proj)
    if reason:
        raise ValueError(f"backend={backend!r} cannot run this configuration: {reason}")
    return backend


def _reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """(T, B) index that reverses each sequence within its own length and leaves padding in place."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(1)
    return torch.where(t < lengths, lengths - 1 - t, t)


def _reverse(seq: Tensor, rev_idx: Tensor | None) -> Tensor:
    if rev_idx is None:
        return seq.flip(0)
    return seq.gather(0, rev_idx.unsqueeze(-1).expand_as(seq))


def _aten_lstm(input, hx, flat_weights, has_biases, num_layers, dropout, training, bidirectional, lengths):
    if lengths is None:
        out, h_n, c_n = torch._VF.lstm(
            input, hx, flat_weights, has_biases, num_layers, dropout, training, bidirectional, False
        )
        return out, (h_n, c_n)
    packed = pack_padded_sequence(input, lengths.cpu(), enforce_sorted=False)
    hx = tuple(s.index_select(1, packed.sorted_indices) for s in hx)
    data, h_n, c_n = torch._VF.lstm(
        packed.data, packed.batch_sizes, hx, flat_weights, has_biases, num_layers, dropout, training,
        bidirectional,
    )
    out_packed = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    out, _ = pad_packed_sequence(out_packed, total_length=input.shape[0])
    return out, (h_n.index_select(1, packed.unsorted_indices), c_n.index_select(1, packed.unsorted_indices))


def lstm(
    input: Tensor,  # (T, B, I)
    hx: tuple[Tensor, Tensor],  # h0 (L*D, B, R), c0 (L*D, B, H)
    weights: list[tuple[Tensor, ...]],  # per layer and direction: (w_ih, w_hh, [b_ih, b_hh], [w_hr])
    *,
    num_layers: int,
    bidirectional: bool,
    has_biases: bool,
    has_proj: bool,
    dropout: float = 0.0,
    training: bool = False,
    lengths: Tensor | None = None,  # (B,) valid steps per sequence, 1 <= len <= T
    backend: str = "auto",
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Multi-layer LSTM over padded time-major input; outputs past each length are zero."""
    backend = resolve_backend(backend, input.device, has_proj=has_proj)
    if backend == "aten":
        flat = [w for layer in weights for w in layer]
        return _aten_lstm(input, hx, flat, has_biases, num_layers, dropout, training, bidirectional, lengths)

    h0, c0 = hx
    steps = input.shape[0]
    num_dirs = 2 if bidirectional else 1
    rev_idx = order = None
    if lengths is not None:
        lengths = lengths.to(input.device, torch.int64)
        lengths, order = lengths.sort(descending=True, stable=True)
        input, h0, c0 = input.index_select(1, order), h0.index_select(1, order), c0.index_select(1, order)
        rev_idx = _reverse_index(lengths, steps) if bidirectional else None

    h_n, c_n = [], []
    x = input
    for layer in range(num_layers):
        outputs = []
        for direction in range(num_dirs):
            k = layer * num_dirs + direction
            w_ih, w_hh, *rest = weights[k]
            bias = rest[0] + rest[1] if has_biases else None
            w_hr = rest[-1] if has_proj else None
            x_dir = x if direction == 0 else _reverse(x, rev_idx)
            pre = F.linear(x_dir, w_ih, bias)
            dt = pre.dtype  # differs from the weights' under autocast
            y, h, c = recurrence(
                backend, pre, w_hh.to(dt), h0[k].to(dt), c0[k].to(dt), None if w_hr is None else w_hr.to(dt),
                lengths,
            )
            outputs.append(y if direction == 0 else _reverse(y, rev_idx))
            h_n.append(h)
            c_n.append(c)
        x = torch.cat(outputs, dim=-1) if num_dirs == 2 else outputs[0]
        if dropout > 0 and training and layer < num_layers - 1:
            x = F.dropout(x, dropout, training=True)

    h_n, c_n = torch.stack(h_n), torch.stack(c_n)
    if order is not None:
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        x, h_n, c_n = x.index_select(1, inverse), h_n.index_select(1, inverse), c_n.index_select(1, inverse)
    return x, (h_n, c_n)


def lstm_cell(
    input: Tensor,  # (B, I)
    hx: tuple[Tensor, Tensor],  # (B, H) each
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    *,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """One LSTM step; returns ``(h_1, c_1)``."""
    backend = resolve_backend(backend, input.device)
    if backend == "aten":
        return torch._VF.lstm_cell(input, hx, w_ih, w_hh, b_ih, b_hh)
    bias = b_ih + b_hh if b_ih is not None else None
    pre = F.linear(input, w_ih, bias).unsqueeze(0)
    dt = pre.dtype
    _, h1, c1 = recurrence(backend, pre, w_hh.to(dt), hx[0].to(dt), hx[1].to(dt), None, None)
    return h1, c1
