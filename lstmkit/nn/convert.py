"""Conversion between :mod:`lstmkit.nn` layers and ``torch.nn.LSTM`` / ``torch.nn.LSTMCell``, for single layers
(``LSTM.to_torch()``, ``LSTM.from_torch(module)``) and for every layer inside a model (:func:`convert`).

The layers share torch's parameter names, shapes and gate layout, so a vanilla layer converts by copying its
state dict and gives the same outputs. Variants (LayerNorm, zoneout, recurrent dropout, DropConnect) have no
torch equivalent; for inference they export through :mod:`lstmkit.nn.traceable` instead.
"""

from __future__ import annotations

import copy

from torch import nn

TARGETS = ("torch", "lstmkit", "export")
FROM_TORCH_OPTIONS = ("backend", "layer_norm", "zoneout_cell", "zoneout_hidden", "recurrent_dropout", "weight_drop")


def refuse_variant(layer: nn.Module) -> None:
    """Raise a ``ValueError`` naming the first variant option of ``layer`` that torch's layers cannot run."""
    if layer.variant.active:
        name = layer.variant.active[0]
        raise ValueError(
            f"to_torch: {type(layer).__name__} has {name}={getattr(layer.variant, name)!r}, which "
            f"torch.nn.{type(layer).__name__} has no equivalent of (it runs the vanilla LSTM only); for inference "
            "export, use lstmkit.nn.convert(model, to='export') (lstmkit.nn.traceable), which runs every variant "
            "in eval mode"
        )


def check_torch_module(module: nn.Module, expected: type, options: dict) -> None:
    """``module`` must be a ``expected`` (torch's class) and ``options`` keyword options that ``from_torch`` takes."""
    if not isinstance(module, expected):
        raise TypeError(f"module: expected a torch.nn.{expected.__name__}, got {type(module).__name__}")
    unknown = sorted(set(options) - set(FROM_TORCH_OPTIONS))
    if unknown:
        hint = (" (the forget-gate biases are the torch module's: set them after conversion)"
                if "forget_bias" in unknown else "")
        raise TypeError(f"from_torch: unexpected options {unknown}{hint}; expected some of {list(FROM_TORCH_OPTIONS)}")


def load_torch_weights(layer: nn.Module, module: nn.Module) -> nn.Module:
    """Copy ``module``'s weights into ``layer`` (only LayerNorm parameters may be left at their initial values) and
    take its train/eval mode; returns ``layer``."""
    missing, unexpected = layer.load_state_dict(module.state_dict(), strict=False)
    left = [name for name in missing if not name.startswith("layer_norm")]
    if left or unexpected:
        raise ValueError(f"module: its parameters do not match: missing {left}, unexpected {unexpected}")
    return layer.train(module.training)


def _swap(module: nn.Module, to: str, options: dict) -> nn.Module | None:
    """The replacement of one layer for ``to``, or ``None`` when ``module`` is not a layer that converts."""
    from lstmkit.nn.lstm import LSTM, LSTMCell
    from lstmkit.nn.traceable import TraceableLSTM

    if to == "torch" and isinstance(module, (LSTM, LSTMCell)):
        return module.to_torch()
    if to == "lstmkit":
        if isinstance(module, nn.LSTM):
            return LSTM.from_torch(module, **options)
        if isinstance(module, nn.LSTMCell):
            return LSTMCell.from_torch(module, **options)
    if to == "export" and isinstance(module, (LSTM, nn.LSTM)):
        return TraceableLSTM(module)
    return None


def convert(model: nn.Module, to: str = "torch", *, inplace: bool = False, **options) -> nn.Module:
    """Swap every LSTM layer inside ``model`` (or ``model`` itself when it is one):

    - ``to="torch"``: :class:`lstmkit.nn.LSTM` / ``LSTMCell`` → ``torch.nn.LSTM`` / ``torch.nn.LSTMCell``
      (vanilla layers only; a variant raises naming its option);
    - ``to="lstmkit"``: the other way; ``options`` go to :meth:`lstmkit.nn.LSTM.from_torch` (``backend=…``);
    - ``to="export"``: every ``LSTM`` of either kind → :class:`lstmkit.nn.traceable.TraceableLSTM`, the eval-mode
      recurrence in plain torch ops that ``torch.export`` and ``torch.onnx.export`` trace with dynamic batch and
      sequence length (cells are left as they are).

    Weights are copied (``to="export"`` shares them); ``inplace=False`` leaves ``model`` untouched and converts a
    deep copy. Note that ``torch.nn.LSTM`` takes no ``lengths=``/``resets=``: a model whose forward passes them to
    its layers needs lstmkit's layers (or ``to="export"``, which takes ``lengths=``).
    """
    if to not in TARGETS:
        raise ValueError(f"to: expected one of {list(TARGETS)}, got {to!r}")
    if options and to != "lstmkit":
        raise TypeError(f"options {sorted(options)}: only to='lstmkit' takes layer options")
    if not inplace:
        model = copy.deepcopy(model)
    whole = _swap(model, to, options)
    if whole is not None:
        return whole
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new = _swap(child, to, options)
            if new is not None:
                setattr(parent, name, new)
    return model
