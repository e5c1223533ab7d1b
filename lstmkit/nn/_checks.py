"""Argument validation shared by the nn modules: errors name the argument, the value and what was expected."""

from __future__ import annotations

import torch
from torch import Tensor


def check_module_args(input_size, hidden_size, num_layers, dropout, proj_size) -> None:
    for name, value, low in (("input_size", input_size, 1), ("hidden_size", hidden_size, 1),
                             ("num_layers", num_layers, 1), ("proj_size", proj_size, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(f"dropout: expected a number in [0, 1], got {dropout!r}")
    if proj_size >= hidden_size:
        raise ValueError(f"proj_size: expected 0 or a value < hidden_size={hidden_size}, got {proj_size}")


def check_input(input: Tensor, weight: Tensor, feature_size: int, ranks: tuple[int, ...]) -> None:
    """``input`` must be floating, of one of ``ranks``, with ``feature_size`` features, on weight's device."""
    if not isinstance(input, Tensor):
        raise TypeError(f"input: expected a torch.Tensor or PackedSequence, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"input: expected a floating-point tensor, got dtype {input.dtype}")
    if input.dim() not in ranks:
        shapes = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"input: expected a {shapes} tensor, got {input.dim()}-D with shape {tuple(input.shape)}")
    if input.shape[-1] != feature_size:
        raise ValueError(
            f"input: expected the last dimension to be input_size={feature_size}, got shape {tuple(input.shape)}"
        )
    if input.device != weight.device:
        raise ValueError(f"input: expected a tensor on {weight.device} (the parameters' device), got {input.device}")
    if input.dtype != weight.dtype and not torch.is_autocast_enabled(input.device.type):
        raise TypeError(f"input: expected dtype {weight.dtype} (the parameters' dtype), got {input.dtype}")


def check_state(name: str, state: Tensor, expected_shape: tuple[int, ...], input: Tensor) -> None:
    if not isinstance(state, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(state).__name__}")
    if tuple(state.shape) != tuple(expected_shape):
        raise ValueError(f"{name}: expected shape {tuple(expected_shape)}, got {tuple(state.shape)}")
    if state.dtype != input.dtype:
        raise TypeError(f"{name}: expected dtype {input.dtype} (the input's), got {state.dtype}")
    if state.device != input.device:
        raise ValueError(f"{name}: expected a tensor on {input.device} (the input's device), got {state.device}")


def check_lengths(lengths: Tensor, batch: int, steps: int) -> Tensor:
    """Validate ``lengths`` (1-D integers in [1, steps], one per sequence); returns it as int64 on CPU."""
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
        raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one per sequence), got {tuple(lengths.shape)}")
    if lengths.device.type == "meta":
        raise ValueError("lengths: expected a tensor with values (on any real device), got a meta tensor")
    if torch.compiler.is_compiling():
        return lengths  # value checks would need a device sync and break the graph
    lengths_cpu = lengths.to("cpu", torch.int64)
    if batch and int(lengths_cpu.min()) < 1:
        raise ValueError(f"lengths: expected every length >= 1, got minimum {int(lengths_cpu.min())}")
    if batch and int(lengths_cpu.max()) > steps:
        raise ValueError(
            f"lengths: expected every length <= {steps} (the input's time steps), got maximum {int(lengths_cpu.max())}"
        )
    return lengths


def make_variant(layer_norm, zoneout_cell, zoneout_hidden, recurrent_dropout, weight_drop):
    """Validate the variant options (DESIGN §4) and bundle them."""
    from lstmkit.ops.functional import Variant

    if not isinstance(layer_norm, bool):
        raise TypeError(f"layer_norm: expected a bool, got {layer_norm!r}")
    for name, value, high in (("zoneout_cell", zoneout_cell, 1.0), ("zoneout_hidden", zoneout_hidden, 1.0),
                              ("recurrent_dropout", recurrent_dropout, 1.0), ("weight_drop", weight_drop, 1.0)):
        closed = name.startswith("zoneout")  # zoneout 1 keeps the initial state; dropout 1 would divide by 0
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            0 <= value <= high if closed else 0 <= value < high)
        if not ok:
            interval = "[0, 1]" if closed else "[0, 1)"
            raise ValueError(f"{name}: expected a probability in {interval}, got {value!r}")
    return Variant(layer_norm, float(zoneout_cell), float(zoneout_hidden), float(recurrent_dropout),
                   float(weight_drop))


def check_forget_bias(forget_bias, bias: bool) -> float:
    if not isinstance(forget_bias, (int, float)) or isinstance(forget_bias, bool):
        raise TypeError(f"forget_bias: expected a number, got {forget_bias!r}")
    if forget_bias and not bias:
        raise ValueError(f"forget_bias: needs bias=True, got forget_bias={forget_bias} with bias=False")
    return float(forget_bias)


def check_resets(resets: Tensor, steps: int, batch: int, batch_first: bool, unbatched: bool) -> Tensor:
    """Validate ``resets`` and return it as a time-major ``(T, B)`` bool tensor."""
    if not isinstance(resets, Tensor):
        raise TypeError(f"resets: expected a bool tensor, got {type(resets).__name__}")
    if resets.dtype != torch.bool:
        raise TypeError(f"resets: expected dtype torch.bool, got {resets.dtype}")
    if unbatched:
        expected = (steps,)
    else:
        expected = (batch, steps) if batch_first else (steps, batch)
    if tuple(resets.shape) != expected:
        raise ValueError(f"resets: expected shape {expected}, got {tuple(resets.shape)}")
    if unbatched:
        return resets.unsqueeze(1)
    return resets.t() if batch_first else resets
