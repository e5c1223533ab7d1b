"""A stacked :class:`lstmkit.nn.LSTM` forecaster: direct multi-step output or autoregressive rollout.

- ``strategy="direct"``: the last hidden state (concatenated with the known-future covariates of the ``horizon``
  target steps) goes through one linear head to all ``horizon × outputs`` values at once (MIMO in Taieb et al.
  2012's terms). One forward pass; each step has its own weights.
- ``strategy="autoregressive"``: a one-step model rolled forward, feeding each forecast back as the next input.
  Trained with teacher forcing — the observed targets are the inputs of the horizon steps, so one LSTM pass over
  ``input_length + horizon - 1`` steps gives every one-step prediction — and rolled out on its own forecasts in
  evaluation, carrying the LSTM state. Needs inputs that are the target alone: past covariates are not known at
  the future steps.

``outputs`` values per step: 1 for a point forecast, one per quantile level for a quantile loss; the value at
``feedback_index`` (the median) is what the rollout feeds back.

``relative=True`` makes the model level-free: the last observed target value of each window is subtracted from
the target inputs and added to every output, so the network forecasts changes from it. On a trending series
(CO₂) the test values lie outside the training range in scaled units; changes do not.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.nn import LSTM, keras_init_
from lstmkit.nn.init import INITS

STRATEGIES = ("direct", "autoregressive")


class LSTMForecaster(nn.Module):
    """``x (B, input_length, input_size)``, ``future (B, horizon, future_size)`` → ``(B, horizon, outputs)``.

    Args:
        input_size: features per input step; feature 0 is the target.
        hidden_size: LSTM units per layer.
        num_layers: stacked LSTM layers.
        horizon: steps forecast per sample.
        outputs: values per forecast step (quantile levels, or 1).
        future_size: known-future covariates per target step (direct strategy only).
        dropout: between LSTM layers and before the head.
        strategy: ``"direct"`` or ``"autoregressive"``.
        feedback_index: which of the ``outputs`` the rollout feeds back.
        relative: forecast changes from the window's last target value (see the module docstring).
        backend: ``lstmkit.nn.LSTM`` backend.
        init: ``"torch"`` (PyTorch's initialisation) or ``"keras"`` (Keras's, :func:`lstmkit.nn.keras_init_`:
            for ports of Keras models).
    """

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 64,
        num_layers: int = 2,
        horizon: int = 1,
        outputs: int = 1,
        future_size: int = 0,
        dropout: float = 0.0,
        strategy: str = "direct",
        feedback_index: int = 0,
        relative: bool = False,
        backend: str = "auto",
        init: str = "torch",
    ) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, got {init!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
        if strategy == "autoregressive" and (input_size != 1 or future_size != 0):
            raise ValueError(
                f"strategy='autoregressive' feeds forecasts back as inputs, so the inputs must be the target alone "
                f"(input_size=1, future_size=0), got input_size={input_size}, future_size={future_size}; "
                "use strategy='direct' with covariates"
            )
        if not 0 <= feedback_index < outputs:
            raise ValueError(f"feedback_index must be in [0, {outputs}), got {feedback_index}")
        self.horizon, self.outputs, self.future_size = horizon, outputs, future_size
        self.strategy, self.feedback_index, self.relative = strategy, feedback_index, relative
        self.lstm = LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            backend=backend,
        )
        self.dropout = nn.Dropout(dropout)
        if strategy == "direct":
            self.head = nn.Linear(hidden_size + horizon * future_size, horizon * outputs)
        else:
            self.head = nn.Linear(hidden_size, outputs)
        if init == "keras":
            keras_init_(self)

    def forward(self, x: Tensor, future: Tensor | None = None, target: Tensor | None = None) -> Tensor:
        """``target (B, horizon)``, given in training, switches the autoregressive model to teacher forcing."""
        if self.relative:
            last = x[:, -1:, :1]  # (B, 1, 1)
            x = torch.cat([x[..., :1] - last, x[..., 1:]], dim=-1)
            target = None if target is None else target - last[..., 0]
            return self._forecast(x, future, target) + last
        return self._forecast(x, future, target)

    def _forecast(self, x: Tensor, future: Tensor | None, target: Tensor | None) -> Tensor:
        if self.strategy == "direct":
            _, (h_n, _) = self.lstm(x)
            features = h_n[-1]
            if self.future_size:
                features = torch.cat([features, future.flatten(1)], dim=1)
            return self.head(self.dropout(features)).view(-1, self.horizon, self.outputs)
        if target is not None:
            inputs = torch.cat([x, target[:, :-1, None]], dim=1)  # (B, input_length + horizon - 1, 1)
            y, _ = self.lstm(inputs)
            return self.head(self.dropout(y[:, x.shape[1] - 1 :]))
        y, state = self.lstm(x)
        step = self.head(y[:, -1:])  # (B, 1, outputs)
        forecasts = [step]
        for _ in range(self.horizon - 1):
            y, state = self.lstm(step[..., self.feedback_index : self.feedback_index + 1], state)
            step = self.head(y)
            forecasts.append(step)
        return torch.cat(forecasts, dim=1)
