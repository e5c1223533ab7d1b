"""Functional multi-layer LSTM and LSTM cell with backend dispatch (DESIGN §1).

``lstm`` takes time-major padded input ``(T, B, I)``; the ``nn`` modules handle batch_first,
unbatched and PackedSequence input and validate arguments before calling here.

Backends:
- ``"aten"``: torch's own kernels (oneDNN on CPU, cuDNN on CUDA); vanilla LSTMs only.
- ``"reference"``: :mod:`lstmkit.ops.reference` through :func:`lstmkit.ops.recurrence.recurrence`; every configuration,
  any device.
- ``"triton"``: fused Triton kernels (registered by ``lstmkit.ops.triton_backend`` when available).
- ``"auto"``: on CUDA, the entry of :data:`CUDA_AUTO_TABLE` for what cuDNN can run (every entry is aten),
  triton for what it cannot (variants, resets; reference without triton); on CPU, aten for vanilla
  configurations, reference for the rest and under ``torch.compile`` (inductor cannot compile aten's
  oneDNN LSTM).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.ops.recurrence import available_backends, get_backend, recurrence
from lstmkit.ops.variants import EPS

BACKEND_NAMES = ("auto", "aten", "reference", "triton")


# backend="auto" on CUDA for the configurations cuDNN can run, per call:
#   (configuration class, dtypes, hidden sizes lo..hi inclusive) -> backend.
# "padded": no lengths; "lengths": padded input with lengths (cuDNN runs it packed). Every entry is "aten"
# (cuDNN). An entry flips to "triton" only when a measurement on a real GPU, recorded in docs/BENCHMARKS.md
# with its command, shows the triton backend at least 1.1x faster than cuDNN for that class, dtype and range;
# none has been made (not measured: no GPU).
_HALF, _FULL = (torch.float16, torch.bfloat16), (torch.float32, torch.float64)
CUDA_AUTO_TABLE: tuple[tuple[str, tuple[torch.dtype, ...], tuple[int, int], str], ...] = (
    ("padded", _HALF, (1, 255), "aten"),
    ("padded", _HALF, (256, 1024), "aten"),
    ("padded", _HALF, (1025, 2**31 - 1), "aten"),
    ("padded", _FULL, (1, 255), "aten"),
    ("padded", _FULL, (256, 1024), "aten"),
    ("padded", _FULL, (1025, 2**31 - 1), "aten"),
    ("lengths", _HALF, (1, 255), "aten"),
    ("lengths", _HALF, (256, 1024), "aten"),
    ("lengths", _HALF, (1025, 2**31 - 1), "aten"),
    ("lengths", _FULL, (1, 255), "aten"),
    ("lengths", _FULL, (256, 1024), "aten"),
    ("lengths", _FULL, (1025, 2**31 - 1), "aten"),
)


def cuda_auto_choice(config_class: str, dtype: torch.dtype, hidden_size: int) -> str:
    """The :data:`CUDA_AUTO_TABLE` entry for a vanilla configuration; aten (cuDNN) where no entry matches."""
    for klass, dtypes, (lo, hi), backend in CUDA_AUTO_TABLE:
        if klass == config_class and dtype in dtypes and lo <= hidden_size <= hi:
            return backend
    return "aten"


def resolve_backend(backend: str, device: torch.device, *, has_proj: bool = False, variant: str | None = None,
                    dtype: torch.dtype = torch.float32, hidden_size: int = 1, has_lengths: bool = False) -> str:
    """Map a requested backend to the one that runs. ``variant`` describes the non-vanilla options in use.

    Every argument is a Python value fixed by the module and the input's dtype/device, never a tensor's
    contents, so under ``torch.compile`` the choice is made once at trace time (and guarded)."""
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend: expected one of {list(BACKEND_NAMES)}, got {backend!r}")

    def why_not(name: str) -> str | None:
        if name == "aten":
            return f"aten runs vanilla LSTMs only, not {variant}" if variant else None
        if name not in available_backends():
            return (f"{name} is not available here" + (f" for {variant}" if variant else "")
                    + " (the triton backend needs the triton package and a CUDA device, or TRITON_INTERPRET=1)")
        return get_backend(name).unsupported(device=device, has_proj=has_proj, variant=variant)

    if backend == "auto":
        if device.type == "cuda":
            if variant:  # cuDNN cannot run it
                candidates = ["triton"]
            else:
                choice = cuda_auto_choice("lengths" if has_lengths else "padded", dtype, hidden_size)
                # packing for cuDNN needs the lengths on the host: not traceable, so not under torch.compile
                traceable = not (has_lengths and torch.compiler.is_compiling())
                candidates = [choice, "aten"] if traceable else ["triton"]
        else:  # inductor cannot compile aten's oneDNN LSTM, so aten is skipped under torch.compile
            candidates = [] if torch.compiler.is_compiling() else ["aten"]
        return next(name for name in [*candidates, "reference"] if why_not(name) is None)
    reason = why_not(backend)
    if reason:
        raise ValueError(f"backend={backend!r} cannot run this configuration: {reason}; use 'auto' or 'reference'")
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


@dataclass(frozen=True)
class Variant:
    """The options of DESIGN §4 (rates are probabilities). All zero/False is the vanilla LSTM.

    ``active`` (the names of the options in use, in field order) and ``description`` (``"name=value, ..."``, None
    for the vanilla LSTM; for messages and ``repr``) are fixed when the options are made, from plain numbers. Under
    ``torch.compile`` Dynamo may turn a rate into a symbolic float (a second module with another rate: automatic
    dynamic), which can be computed with but not formatted: the traced path branches only on ``active`` -- which
    does not depend on the rates' values, so a sweep over a rate does not recompile per value -- and uses the rates
    only as values in tensor operations."""

    layer_norm: bool = False  # LN of both gate pre-activations (gain only) and of c (gain and bias)
    zoneout_cell: float = 0.0  # probability of keeping the previous c, per element and step (training)
    zoneout_hidden: float = 0.0  # same for h
    recurrent_dropout: float = 0.0  # one mask per sequence on h_{t-1} in the recurrent matmul only
    weight_drop: float = 0.0  # DropConnect on W_hh, one mask per forward call
    active: tuple[str, ...] = field(init=False, repr=False, compare=False)
    description: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        object.__setattr__(self, "active", tuple(k for k, v in options.items() if v))
        object.__setattr__(self, "description", ", ".join(f"{k}={v}" for k, v in options.items() if v) or None)


VANILLA = Variant()


def _step_masks(variant: Variant, training: bool, steps, batch, hid, real, like: Tensor) -> dict:
    """Zoneout and recurrent-dropout inputs for one layer/direction, drawn with torch's RNG in training."""
    out = {}
    for key, option, width in (("zoneout_c", "zoneout_cell", hid), ("zoneout_h", "zoneout_hidden", real)):
        if option in variant.active:
            # ones * rate, not new_full(shape, rate): a symbolic rate stays a graph input instead of being
            # specialised (which would recompile once per value)
            shape, rate = (steps, batch, width), getattr(variant, option)
            out[key] = (torch.bernoulli(like.new_ones(shape) * rate) if training
                        else (like.new_ones((1, 1, 1)) * rate).expand(shape))
    if "recurrent_dropout" in variant.active and training:
        keep = 1 - variant.recurrent_dropout
        out["dropout_mask"] = torch.bernoulli(like.new_ones((batch, real)) * keep) / keep
    return out


def _reverse_resets(resets: Tensor, rev_idx: Tensor | None) -> Tensor:
    """Resets for the reverse direction: its state is zeroed on entering step t-1 when resets[t] (an
    episode boundary between t-1 and t), i.e. shifted by one step, then put in processing order."""
    shifted = torch.cat([resets[1:], torch.zeros_like(resets[:1])])
    if rev_idx is None:
        return shifted.flip(0)
    return shifted.gather(0, rev_idx)


def lstm(
    input: Tensor,  # (T, B, I)
    hx: tuple[Tensor, Tensor],  # h0 (L*D, B, R), c0 (L*D, B, H)
    weights: list[tuple[Tensor, ...]],  # per layer/direction: w_ih, w_hh, [b_ih, b_hh], [w_hr], [4 LN tensors]
    *,
    num_layers: int,
    bidirectional: bool,
    has_biases: bool,
    has_proj: bool,
    dropout: float = 0.0,
    training: bool = False,
    lengths: Tensor | None = None,  # (B,) valid steps per sequence, 1 <= len <= T
    backend: str = "auto",
    variant: Variant = VANILLA,
    resets: Tensor | None = None,  # (T, B) bool: zero the state entering step t
    masks: dict | None = None,  # {(layer, direction): {name: tensor}} overrides drawn masks (tests, replay)
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Multi-layer LSTM over padded time-major input; outputs past each length are zero.

    ``masks`` entries (batch in input order, time in processing order — reversed for direction 1):
    ``zoneout_c (T,B,H)``, ``zoneout_h (T,B,R)`` (1 keeps the previous value), ``dropout_mask (B,R)``
    (already scaled), ``weight_drop (4H,R)`` (multiplies W_hh, already scaled).
    """
    needs_variant = ", ".join((*variant.active, *(("resets",) if resets is not None else ()))) or None
    backend = resolve_backend(backend, input.device, has_proj=has_proj, variant=needs_variant, dtype=input.dtype,
                              hidden_size=weights[0][1].shape[0] // 4, has_lengths=lengths is not None)
    if backend == "aten":
        flat = [w for layer in weights for w in layer]
        return _aten_lstm(input, hx, flat, has_biases, num_layers, dropout, training, bidirectional, lengths)

    h0, c0 = hx
    steps, batch = input.shape[:2]
    num_dirs = 2 if bidirectional else 1
    rev_idx = order = None
    if lengths is not None:
        lengths = lengths.to(input.device, torch.int64)
        lengths, order = lengths.sort(descending=True, stable=True)
        input, h0, c0 = input.index_select(1, order), h0.index_select(1, order), c0.index_select(1, order)
        resets = resets.index_select(1, order) if resets is not None else None
        rev_idx = _reverse_index(lengths, steps) if bidirectional else None

    h_n, c_n = [], []
    x = input
    for layer in range(num_layers):
        outputs = []
        for direction in range(num_dirs):
            k = layer * num_dirs + direction
            w_ih, w_hh, *rest = weights[k]
            bias = rest[0] + rest[1] if has_biases else None
            w_hr = rest[2 if has_biases else 0] if has_proj else None
            x_dir = x if direction == 0 else _reverse(x, rev_idx)
            pre = F.linear(x_dir, w_ih, None if variant.layer_norm else bias)
            dt = pre.dtype  # differs from the weights' under autocast
            args = (w_hh.to(dt), h0[k].to(dt), c0[k].to(dt), None if w_hr is None else w_hr.to(dt), lengths)
            if needs_variant is None:
                y, h, c = recurrence(backend, pre, *args)
            else:
                y, h, c = _variant_layer(backend, variant, pre, bias, args, rest[-4:], resets, rev_idx, direction,
                                         training, (masks or {}).get((layer, direction)), order)
            outputs.append(y if direction == 0 else _reverse(y, rev_idx))
            h_n.append(h)
            c_n.append(c)
        x = torch.cat(outputs, dim=-1) if num_dirs == 2 else outputs[0]
        if training and layer < num_layers - 1:  # no branch on the rate (see Variant); p = 0 returns x itself
            x = F.dropout(x, dropout, training=True)

    h_n, c_n = torch.stack(h_n), torch.stack(c_n)
    if order is not None:
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        x, h_n, c_n = x.index_select(1, inverse), h_n.index_select(1, inverse), c_n.index_select(1, inverse)
    return x, (h_n, c_n)


def _variant_layer(backend, variant, pre, bias, args, ln, resets, rev_idx, direction, training, given, order):
    """One layer/direction of a variant LSTM: input LayerNorm, DropConnect and masks, then the recurrence."""
    w_hh, h0, c0, w_hr, lengths = args
    steps, batch, four_h = pre.shape
    ln_h = ln_c = ln_c_bias = None
    if variant.layer_norm:
        ln_ih, ln_h, ln_c, ln_c_bias = (t.to(pre.dtype) for t in ln)
        # LN_x(x W_ihᵀ) + b in one op: b (= b_ih + b_hh) is the LayerNorm's bias
        pre = F.layer_norm(pre, (four_h,), ln_ih, None if bias is None else bias.to(pre.dtype), EPS)
    given = dict(given or {})
    if order is not None:  # user masks are in input batch order
        for key in ("zoneout_c", "zoneout_h", "dropout_mask"):
            if key in given:
                given[key] = given[key].index_select(-2 if key != "dropout_mask" else 0, order)
    if "weight_drop" in given:
        w_hh = w_hh * given.pop("weight_drop").to(w_hh.dtype)
    elif "weight_drop" in variant.active and training:
        w_hh = F.dropout(w_hh, variant.weight_drop, training=True)
    drawn = _step_masks(variant, training, steps, batch, four_h // 4, h0.shape[1], pre)
    extras = {**drawn, **{k: v.to(pre.dtype) for k, v in given.items()}}
    if resets is not None:
        extras["resets"] = resets if direction == 0 else _reverse_resets(resets, rev_idx)
    return recurrence(backend, pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight=ln_h, ln_c_weight=ln_c,
                      ln_c_bias=ln_c_bias, **extras)
