"""The LSTM recurrence as one differentiable op, whatever backend computes it.

Layering (as in flash-attention): each backend supplies a forward and a backward function with the
signatures of :mod:`lstmkit.ops.reference`; they are registered as opaque ``torch.library`` custom
ops (so ``torch.compile(fullgraph=True)`` sees one node, not a Python loop) and tied together by
one ``torch.autograd.Function``. A new backend (the Triton one) calls :func:`register_backend`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from lstmkit.ops import reference


@dataclass(frozen=True)
class RecurrenceBackend:
    name: str
    forward: Callable  # custom op: (pre, w_hh, h0, c0, w_hr, lengths) -> (y, h_n, c_n, gates, cells)
    backward: Callable  # custom op: (grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths)
    unsupported: Callable  # (device=, has_proj=) -> None, or a reason this backend cannot serve it
    infer: Callable | None = None  # variants only: custom op -> (y, h_n, c_n), keeping nothing for backward


_BACKENDS: dict[str, RecurrenceBackend] = {}


def _empty_like_none(t: Tensor | None, ref: Tensor) -> Tensor:
    # custom ops cannot return None: an empty tensor stands for "no such gradient"
    return ref.new_empty(0) if t is None else t


def _supports_everything(**config) -> str | None:
    return None


def register_backend(
    name: str,
    forward_fn: Callable,
    backward_fn: Callable,
    unsupported: Callable = _supports_everything,
    device_types=None,
) -> None:
    """Register ``forward_fn`` / ``backward_fn`` (reference signatures) as custom ops ``lstmkit::{name}_*``."""

    @torch.library.custom_op(f"lstmkit::{name}_recurrence_fwd", mutates_args=(), device_types=device_types)
    def fwd(
        pre: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, w_hr: Tensor | None, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        y, h_n, c_n, gates, cells = forward_fn(pre, w_hh, h0, c0, w_hr, lengths)
        # outputs of a custom op may not alias each other: the final states are often views of y / cells
        return y.contiguous(), h_n.clone(), c_n.clone(), gates.contiguous(), cells.contiguous()

    @fwd.register_fake
    def _(pre, w_hh, h0, c0, w_hr, lengths):
        steps, batch, four_h = pre.shape
        r = h0.shape[1]
        return (
            pre.new_empty(steps, batch, r),
            pre.new_empty(batch, r),
            pre.new_empty(batch, four_h // 4),
            pre.new_empty(steps, batch, four_h),
            pre.new_empty(steps, batch, four_h // 4),
        )

    @torch.library.custom_op(f"lstmkit::{name}_recurrence_bwd", mutates_args=(), device_types=device_types)
    def bwd(
        grad_y: Tensor,
        grad_h_n: Tensor,
        grad_c_n: Tensor,
        gates: Tensor,
        cells: Tensor,
        y: Tensor,
        w_hh: Tensor,
        h0: Tensor,
        c0: Tensor,
        w_hr: Tensor | None,
        lengths: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        d_pre, d_w_hh, d_h0, d_c0, d_w_hr = backward_fn(
            grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths
        )
        return d_pre, d_w_hh, d_h0, d_c0, _empty_like_none(d_w_hr, d_pre)

    @bwd.register_fake
    def _(grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths):
        return (
            torch.empty_like(gates),
            torch.empty_like(w_hh),
            torch.empty_like(h0),
            torch.empty_like(c0),
            torch.empty_like(w_hr) if w_hr is not None else gates.new_empty(0),
        )

    _BACKENDS[name] = RecurrenceBackend(name, fwd, bwd, unsupported)


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def find_backend(name: str, *, variant: bool = False) -> RecurrenceBackend | None:
    """The registered backend ``name`` (its variant ops with ``variant``), or None."""
    return (_VARIANT_BACKENDS if variant else _BACKENDS).get(name)


class LSTMRecurrence(torch.autograd.Function):
    """Differentiable recurrence ``(pre, w_hh, h0, c0, w_hr) -> (y, h_n, c_n)``.

    Saves for backward: the activated gates (T,B,4H), the cell states (T,B,H), the output y, and the
    inputs w_hh, h0, c0, w_hr, lengths.
    """

    @staticmethod
    def forward(ctx, backend: str, pre, w_hh, h0, c0, w_hr, lengths):
        impl = _BACKENDS[backend]
        y, h_n, c_n, gates, cells = impl.forward(pre, w_hh, h0, c0, w_hr, lengths)
        ctx.backend = backend
        ctx.has_proj = w_hr is not None
        ctx.save_for_backward(gates, cells, y, w_hh, h0, c0, w_hr, lengths)
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, grad_y, grad_h_n, grad_c_n):
        gates, cells, y, w_hh, h0, c0, w_hr, lengths = ctx.saved_tensors
        # gradients of unused outputs arrive as None, and of y.sum() as expanded (stride-0) views
        grad_y = torch.zeros_like(y) if grad_y is None else grad_y.contiguous()
        grad_h_n = torch.zeros_like(h0) if grad_h_n is None else grad_h_n.contiguous()
        grad_c_n = torch.zeros_like(c0) if grad_c_n is None else grad_c_n.contiguous()
        d_pre, d_w_hh, d_h0, d_c0, d_w_hr = _BACKENDS[ctx.backend].backward(
            grad_y, grad_h_n, grad_c_n, gates, cells, y, w_hh, h0, c0, w_hr, lengths
        )
        return None, d_pre, d_w_hh, d_h0, d_c0, (d_w_hr if ctx.has_proj else None), None


def recurrence(
    backend: str,
    pre: Tensor,  # (T, B, 4H)
    w_hh: Tensor,  # (4H, R)
    h0: Tensor,  # (B, R)
    c0: Tensor,  # (B, H)
    w_hr: Tensor | None = None,  # (R, H)
    lengths: Tensor | None = None,  # (B,) sorted non-increasing
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, one direction: returns ``y (T,B,R), h_n (B,R), c_n (B,H)``."""
    return LSTMRecurrence.apply(backend, pre, w_hh, h0, c0, w_hr, lengths)


register_backend("reference", reference.recurrence_forward, reference.recurrence_backward)


# ---- variants (DESIGN §4): LayerNorm, zoneout, recurrent dropout, resets -------------------------
# One op family whose extra inputs are all optional; each backend that implements the variants
# registers its pair here. Signatures: lstmkit.ops.variants.variant_forward / variant_backward.
_VARIANT_BACKENDS: dict[str, RecurrenceBackend] = {}
VARIANT_INPUTS = ("ln_h_weight", "ln_c_weight", "ln_c_bias", "zoneout_c", "zoneout_h", "dropout_mask", "resets")


def register_variant_backend(name: str, forward_fn: Callable, backward_fn: Callable,
                             unsupported: Callable = _supports_everything, saves_norm: bool = False,
                             infer_fn: Callable | None = None) -> None:
    """Register the variant recurrence of backend ``name`` as custom ops ``lstmkit::{name}_variant_*``.

    ``infer_fn`` (optional, ``forward_fn``'s signature, returns at least ``y, h_n, c_n``) serves calls that need no
    gradient (``no_grad``, inference mode, or no input requiring one), so that nothing is kept for backward.

    ``saves_norm``: ``forward_fn`` returns two more tensors that ``backward_fn`` receives as
    ``saved=(norm_input, norm_stats)`` -- the recurrent pre-activations ``r`` (T,B,4H) when ``ln_h_weight`` is
    given, and the LayerNorm statistics (4,T,B,1): mean and rstd of ``r``, then of ``c`` -- so that backward does
    not recompute them (a (T·B)×R×4H GEMM and two reductions). Backends without it return empty tensors there.
    """

    def fake_saved(pre, ln_h_weight, ln_c_weight):
        steps, batch, four_h = pre.shape
        if not saves_norm:
            return pre.new_empty(0), pre.new_empty(0)
        norm_input = pre.new_empty(steps, batch, four_h) if ln_h_weight is not None else pre.new_empty(0)
        has_ln = ln_h_weight is not None or ln_c_weight is not None
        return norm_input, (pre.new_empty(4, steps, batch, 1) if has_ln else pre.new_empty(0))

    @torch.library.custom_op(f"lstmkit::{name}_variant_fwd", mutates_args=())
    def fwd(
        pre: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, w_hr: Tensor | None, lengths: Tensor | None,
        ln_h_weight: Tensor | None, ln_c_weight: Tensor | None, ln_c_bias: Tensor | None,
        zoneout_c: Tensor | None, zoneout_h: Tensor | None, dropout_mask: Tensor | None, resets: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        y, h_n, c_n, gates, cells, *saved = forward_fn(pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight,
                                                       ln_c_bias, zoneout_c, zoneout_h, dropout_mask, resets)
        if not saves_norm:
            saved = fake_saved(pre, None, None)
        return (y.contiguous(), h_n.clone(), c_n.clone(), gates.contiguous(), cells.contiguous(),
                *(t.contiguous() for t in saved))

    @fwd.register_fake
    def _(pre, w_hh, h0, c0, w_hr, lengths, ln_h_weight, ln_c_weight, *rest):
        steps, batch, four_h = pre.shape
        return (pre.new_empty(steps, batch, h0.shape[1]), pre.new_empty(batch, h0.shape[1]),
                pre.new_empty(batch, four_h // 4), pre.new_empty(steps, batch, four_h),
                pre.new_empty(steps, batch, four_h // 4), *fake_saved(pre, ln_h_weight, ln_c_weight))

    @torch.library.custom_op(f"lstmkit::{name}_variant_bwd", mutates_args=())
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
        @torch.library.custom_op(f"lstmkit::{name}_variant_infer", mutates_args=())
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
            steps, batch, four_h = pre.shape
            return (pre.new_empty(steps, batch, h0.shape[1]), pre.new_empty(batch, h0.shape[1]),
                    pre.new_empty(batch, four_h // 4))

    _VARIANT_BACKENDS[name] = RecurrenceBackend(name, fwd, bwd, unsupported, infer)


class LSTMVariantRecurrence(torch.autograd.Function):
    """Differentiable variant recurrence; saves what :class:`LSTMRecurrence` saves plus the variant inputs
    (and whatever LayerNorm inputs/statistics the backend keeps, see :func:`register_variant_backend`)."""

    @staticmethod
    def forward(ctx, backend, pre, w_hh, h0, c0, w_hr, lengths, *extras):
        y, h_n, c_n, gates, cells, norm_input, norm_stats = _VARIANT_BACKENDS[backend].forward(
            pre, w_hh, h0, c0, w_hr, lengths, *extras)
        ctx.backend = backend
        ctx.present = [t is not None for t in (w_hr, *extras[:3])]  # which optional inputs take gradients
        ctx.save_for_backward(gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths, *extras)
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, grad_y, grad_h_n, grad_c_n):
        gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths, *extras = ctx.saved_tensors
        grad_y = torch.zeros_like(y) if grad_y is None else grad_y.contiguous()
        grad_h_n = torch.zeros_like(h0) if grad_h_n is None else grad_h_n.contiguous()
        grad_c_n = torch.zeros_like(c0) if grad_c_n is None else grad_c_n.contiguous()
        d_pre, d_w_hh, d_h0, d_c0, *optional = _VARIANT_BACKENDS[ctx.backend].backward(
            grad_y, grad_h_n, grad_c_n, gates, cells, y, norm_input, norm_stats, w_hh, h0, c0, w_hr, lengths,
            *extras
        )
        d_w_hr, d_ln_h, d_ln_c, d_ln_c_bias = (g if keep else None for g, keep in zip(optional, ctx.present))
        return (None, d_pre, d_w_hh, d_h0, d_c0, d_w_hr, None, d_ln_h, d_ln_c, d_ln_c_bias, None, None, None, None)


def variant_recurrence(backend: str, pre, w_hh, h0, c0, w_hr=None, lengths=None, **extras):
    """Like :func:`recurrence` with the optional variant inputs named in ``VARIANT_INPUTS``."""
    unknown = set(extras) - set(VARIANT_INPUTS)
    if unknown:
        raise TypeError(f"variant_recurrence: unexpected inputs {sorted(unknown)}; expected {VARIANT_INPUTS}")
    inputs = (pre, w_hh, h0, c0, w_hr, lengths, *(extras.get(k) for k in VARIANT_INPUTS))
    infer = _VARIANT_BACKENDS[backend].infer
    if infer is not None and not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs)):
        return infer(*inputs)
    return LSTMVariantRecurrence.apply(backend, *inputs)


def _register_reference_variants() -> None:
    from lstmkit.ops import variants

    register_variant_backend("reference", variants.variant_forward, variants.variant_backward, saves_norm=True,
                             infer_fn=functools.partial(variants.variant_forward, for_backward=False))


_register_reference_variants()
