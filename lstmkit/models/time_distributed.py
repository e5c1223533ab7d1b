"""Apply a module to every time step of a sequence by folding time into the batch (Keras' ``TimeDistributed``)."""

from __future__ import annotations

from torch import Tensor, nn


class TimeDistributed(nn.Module):
    """``x (B, T, *step_shape) -> (B, T, *out_shape)``: ``module`` sees ``(B·T, *step_shape)`` in one call, so a
    CNN runs once over all frames of all clips instead of once per step. Padded steps are computed too (they are
    cheap and the LSTM ignores them when it gets ``lengths``)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"x: expected (B, T, ...) with at least 3 dimensions, got shape {tuple(x.shape)}")
        batch, steps = x.shape[:2]
        out = self.module(x.reshape(batch * steps, *x.shape[2:]))  # (B·T, *out_shape)
        return out.reshape(batch, steps, *out.shape[1:])
