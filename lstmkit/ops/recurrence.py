"""The LSTM recurrence as one differentiable op, whatever backend computes it and whatever variant it runs.

Layering (as in flash-attention's ``LayerNormFn`` with ``HAS_X1``/``HAS_DROPOUT``): each backend supplies one
forward and one backward function taking the vanilla inputs plus the optional variant inputs
(:data:`VARIANT_INPUTS`, ``None`` = feature off, all ``None`` = the vanilla LSTM). They are registered as opaque
``torch.library`` custom ops ``lstmkit::{name}_recurrence_{fwd,bwd,infer}`` (so ``torch.compile(fullgraph=True)``
sees one node, not a Python loop) and tied together by one ``torch.autograd.Function``. A backend registers
with :func:`register_backend`; :func:`available_backends` lists them and :func:`get_backend` looks one up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from lstmkit.ops import reference, variants

# the optional inputs, in the order the custom ops take them after (pre, w_hh, h0, c0, w_hr, lengths)
VARIANT_INPUTS = ("ln_h_weight", "ln_c_weight", "ln_c_bias", "zoneout_c", "zoneout_h", "dropout_mask", "resets")


@dataclass(frozen=True)
class RecurrenceBackend:
    """A registered backend: its custom ops and what it cannot run."""

    name: str
    forward: Callable  # custom op ``fwd``, see register_backend
    backward: Callable  # custom op ``bwd``
    unsupported: Callable  # (device=, has_proj=, variant=) -> None, or the reason this backend cannot serve it
    infer: Callable | None = None  # custom op -> (y, h_n, c_n) keeping nothing for backward, or None


_REGISTRY: dict[str, RecurrenceBackend] = {}


def _empty_like_none(t: Tensor | None, ref: Tensor) -> Tensor:
    # custom ops cannot return None: an empty tensor stands for "no such output"
    return ref.new_empty(0) if t is None else t


def _supports_everything(**config) -> str | None:
    return None


def register_backend(name: str, forward_fn: Callable, backward_fn: Callable, *,
                     unsupported: Callable = _supports_everything, saves_norm: bool = False,
                     infer_fn: Callable | None = None) -> None:
    """Register backend ``name`` as custom ops ``lstmkit::{name}_recurrence_*``.

    ``forward_fn(pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h,
    dropout_mask, resets)`` (shapes as :func:`recurrence`'s) returns ``y, h_n, c_n, gates (T,B,4H), cells (T,B,H)``
    and, with ``saves_norm``, two more tensors that ``backward_fn`` receives as ``saved=(norm_input, norm_stats)``:
    the recurrent pre-activations ``r`` (T,B,4H) when ``ln_h_weight`` is given, and the LayerNorm statistics
    (4,T,B,1) -- mean and rstd of ``r``, then of ``c`` -- or empty tensors where unused.
    ``backward_fn(grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths, <variant inputs>)``
    returns ``d_pre, d_w_hh, d_h0, d_c0, d_w_hr, d_ln_h_weight, d_ln_c_weight, d_ln_c_bias`` (None where absent).
    ``infer_fn`` (optional, ``forward_fn``'s signature, returns at least ``y, h_n, c_n``) serves calls that need
    no gradient, so that nothing is kept for backward.
    """

    def fake_saved(pre, ln_h_weight, ln_c_weight):
        steps, batch, four_h = pre.shape
        if not saves_norm:
            return pre.new_empty(0), pre.new_empty(0)
        norm_input = pre.new_empty(steps, batch, four_h) if ln_h_weight is not None else pre.new_empty(0)
        has_ln = ln_h_weight is not None or ln_c_weight is not None
        return norm_input, (pre.new_empty(4, steps, batch, 1) if has_ln else pre.new_empty(0))

    def fake_outputs(pre, h0):
        steps, batch, four_h = pre.shape
        return (pre.new_empty(steps, batch, h0.shape[1]), pre.new_empty(batch, h0.shape[1]),
                pre.new_empty(batch, four_h // 4))

    @torch.library.custom_op(f"lstmkit::{name}_recurrence_fwd", mutates_args=())
    def fwd(
        pre: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, w_hr: Tensor | None, lengths: Tensor | None,
        ln_h_weight: Tensor | None, ln_c_weight: Tensor | None, ln_c_bias: Tensor | None,
        zoneout_c: Tensor | None, zoneout_h: Tensor | None, dropout_mask: Tensor | None, resets: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        y, h_n, c_n, gates, cells, *saved = forward_fn(pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight,
                                                       ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets)
        if not saves_norm:
            saved = fake_saved(pre, None, None)
        # outputs of a custom op may not alias each other: the final states are often views of y / cells
        return (y.contiguous(), h_n.clone(), c_n.clone(), gates.contiguous(), cells.contiguous(),
                *(t.contiguous() for t in saved))

    @fwd.register_fake
    def _(pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight, *rest):
        steps, batch, four_h = pre.shape
        return (*fake_outputs(pre, h0), pre.new_empty(steps, batch, four_h), pre.new_empty(steps, batch, four_h // 4),
                *fake_saved(pre, ln_h_weight, ln_c_weight))

    @torch.library.custom_op(f"lstmkit::{name}_recurrence_bwd", mutates_args=())
    def bwd(
        grad_y: Tensor, grad_h_n: Tensor, grad_c_n: Tensor, gates: Tensor, cells: Tensor, y: Tensor,
        norm_input: Tensor, norm_stats: Tensor,
        w_hh: Tensor, h0: Tensor, c0: Tensor, w_hr: Tensor | None, lengths: Tensor | None,
        ln_h_weight: Tensor | None, ln_c_weight: Tensor | None, ln_c_bias: Tensor | None,
        zoneout_c: Tensor | None, zoneout_h: Tensor | None, dropout_mask: Tensor | None, resets: Tensor | None,
    ) -> list[Tensor]:
        kwargs = {"saved": (norm_input, norm_stats)} if saves_norm else {}
        grads = backward_fn(grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths,
                            ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets,
                            **kwargs)
        return [_empty_like_none(g, gates) for g in grads]

    @bwd.register_fake
    def _(grad_y, grad_h_n, grad_c_n, gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths,
          ln_h, ln_c, ln_c_b, *rest):
        like = [gates, w_hh, h0, c0, w_hr, ln_h, ln_c, ln_c_b]
        return [torch.empty_like(t) if t is not None else gates.new_empty(0) for t in like]

    infer = None
    if infer_fn is not None:
        @torch.library.custom_op(f"lstmkit::{name}_recurrence_infer", mutates_args=())
        def infer(
            pre: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, w_hr: Tensor | None, lengths: Tensor | None,
            ln_h_weight: Tensor | None, ln_c_weight: Tensor | None, ln_c_bias: Tensor | None,
            zoneout_c: Tensor | None, zoneout_h: Tensor | None, dropout_mask: Tensor | None, resets: Tensor | None,
        ) -> tuple[Tensor, Tensor, Tensor]:
            y, h_n, c_n, *_ = infer_fn(pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight, ln_c_bias,
                                       zoneout_c, zoneout_h, dropout_mask, resets)
            return y.contiguous(), h_n.clone(), c_n.clone()

        @infer.register_fake
        def _(pre, w_hh, h0, c0, *rest):
            return fake_outputs(pre, h0)

    _REGISTRY[name] = RecurrenceBackend(name, fwd, bwd, unsupported, infer)


def available_backends() -> list[str]:
    """Names of the registered recurrence backends (``aten`` is not one: it bypasses these ops)."""
    return sorted(_REGISTRY)


def get_backend(name: str) -> RecurrenceBackend:
    """The registered backend ``name``; a ``ValueError`` naming the registered ones if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"backend: no recurrence backend {name!r} is registered; "
                         f"registered: {available_backends()}") from None


class LSTMRecurrence(torch.autograd.Function):
    """Differentiable recurrence ``(pre, w_hh, h0, c0, w_hr, lengths, *variant inputs) -> (y, h_n, c_n)``.

    Saves for backward: the activated gates (T,B,4H), the cell states (T,B,H), the output y, whatever LayerNorm
    inputs/statistics the backend keeps (empty for the vanilla LSTM), and the inputs.
    """

    @staticmethod
    def forward(ctx, backend: str, pre, w_hh, h0, c0, w_hr, lengths, *variant_inputs):
        y, h_n, c_n, gates, cells, norm_input, norm_stats = get_backend(backend).forward(
            pre, w_hh, h0, c0, w_hr, lengths, *variant_inputs)
        ctx.backend = backend
        ctx.present = [t is not None for t in (w_hr, *variant_inputs[:3])]  # which optional inputs take gradients
        ctx.save_for_backward(gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths, *variant_inputs)
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, grad_y, grad_h_n, grad_c_n):
        gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths, *variant_inputs = ctx.saved_tensors
        # gradients of unused outputs arrive as None, and of y.sum() as expanded (stride-0) views
        grad_y = torch.zeros_like(y) if grad_y is None else grad_y.contiguous()
        grad_h_n = torch.zeros_like(h0) if grad_h_n is None else grad_h_n.contiguous()
        grad_c_n = torch.zeros_like(c0) if grad_c_n is None else grad_c_n.contiguous()
        d_pre, d_w_hh, d_h0, d_c0, *optional = get_backend(ctx.backend).backward(
            grad_y, grad_h_n, grad_c_n, gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths,
            *variant_inputs)
        d_w_hr, d_ln_h, d_ln_c, d_ln_c_bias = (g if keep else None for g, keep in zip(optional, ctx.present))
        return (None, d_pre, d_w_hh, d_h0, d_c0, d_w_hr, None, d_ln_h, d_ln_c, d_ln_c_bias, None, None, None, None)


def recurrence(
    backend: str,
    pre: Tensor,  # (T, B, 4H); with LayerNorm, LN_x(x W_ihᵀ) + b
    w_hh: Tensor,  # (4H, R), DropConnect already applied
    h0: Tensor,  # (B, R)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None = None,  # (R, H)
    lengths: Tensor | None = None,  # (B,) sorted non-increasing
    *,
    ln_h_weight: Tensor | None = None,  # (4H,) LN_h gain
    ln_c_weight: Tensor | None = None,  # (H,) LN_c gain
    ln_c_bias: Tensor | None = None,  # (H,) LN_c bias
    zoneout_c: Tensor | None = None,  # (T, B, H) 0/1 masks (training) or the rate (eval, may be expanded)
    zoneout_h: Tensor | None = None,  # (T, B, R)
    dropout_mask: Tensor | None = None,  # (B, R) values 0 or 1/(1-p)
    resets: Tensor | None = None,  # (T, B) bool: zero the state entering step t
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, one direction: returns ``y (T,B,R), h_n (B,R), c_n (B,H)``. The variant inputs (see
    :mod:`lstmkit.ops.variants`) are optional: none given is the vanilla LSTM."""
    inputs = (pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight, ln_c_bias, zoneout_c, zoneout_h,
              dropout_mask, resets)
    infer = get_backend(backend).infer
    if infer is not None and not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs)):
        return infer(*inputs)
    return LSTMRecurrence.apply(backend, *inputs)


def _is_vanilla(variant_inputs: tuple) -> bool:
    return all(t is None for t in variant_inputs)


def _reference_forward(pre, w_hh, h0, c0, w_hr, lengths, *variant_inputs, for_backward: bool = True):
    """The reference backend: :mod:`lstmkit.ops.reference` for the vanilla LSTM (its fast path), else
    :mod:`lstmkit.ops.variants`."""
    if _is_vanilla(variant_inputs):
        # no LayerNorm inputs or statistics to keep (two tensors: outputs of a custom op may not alias)
        return (*reference.recurrence_forward(pre, w_hh, h0, c0, w_hr, lengths), pre.new_empty(0), pre.new_empty(0))
    return variants.variant_forward(pre, w_hh, h0, c0, w_hr, lengths, *variant_inputs, for_backward=for_backward)


def _reference_backward(grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths, *variant_inputs,
                        saved):
    if _is_vanilla(variant_inputs):
        grads = reference.recurrence_backward(grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths)
        return (*grads, None, None, None)
    return variants.variant_backward(grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths,
                                     *variant_inputs, saved=saved)


def _reference_infer(*inputs):
    return _reference_forward(*inputs, for_backward=False)


register_backend("reference", _reference_forward, _reference_backward, saves_norm=True, infer_fn=_reference_infer)
