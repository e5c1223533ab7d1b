"""Sequence-to-vector regression: a stacked :class:`lstmkit.nn.LSTM` read at the last valid step, then a linear
head — the classic many-to-one LSTM (one-step or direct multi-step forecasting, sequence regression)."""

from __future__ import annotations

from torch import Tensor, nn

from lstmkit.nn import LSTM


class LSTMRegressor(nn.Module):
    """``x (B, T, input_size) -> (B, output_size)``.

    Args:
        input_size: features per time step.
        hidden_size: LSTM units per layer.
        output_size: regression targets (e.g. the forecast horizon).
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the head.
        backend: ``lstmkit.nn.LSTM`` backend: ``"auto"``, ``"aten"``, ``"reference"`` or ``"triton"``.
    """

    def __init__(self, input_size: int = 1, hidden_size: int = 64, output_size: int = 1, num_layers: int = 1,
                 dropout: float = 0.0, backend: str = "auto") -> None:
        super().__init__()
        self.lstm = LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0, backend=backend)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``lengths`` (B,) marks padded sequences; the head then reads each sequence's last valid step."""
        _, (h_n, _) = self.lstm(x, lengths=lengths)
        return self.head(self.dropout(h_n[-1]))

