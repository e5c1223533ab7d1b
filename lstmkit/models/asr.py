"""Speech recognition with CTC: SpecAugment, frame stacking and a stacked BiLSTM encoder with a linear CTC head
(Graves et al. 2013, "Speech Recognition with Deep Recurrent Neural Networks"; Park et al. 2019, SpecAugment)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.nn import LSTM


class SpecAugment(nn.Module):
    """Training-time masking of ``features (B, T, F)`` (Park et al. 2019, without time warping): per utterance,
    ``freq_masks`` bands of 0 to ``freq_width`` mel channels and ``time_masks`` spans of 0 to ``time_width`` frames
    (at most ``max_time_fraction`` of the utterance's own length) are set to 0, the mean of normalised features.
    The identity in evaluation mode or when every count is 0.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 10,
                 max_time_fraction: float = 0.2) -> None:
        super().__init__()
        for name, value in (("freq_masks", freq_masks), ("freq_width", freq_width), ("time_masks", time_masks),
                            ("time_width", time_width)):
            if value < 0:
                raise ValueError(f"{name}: expected a count >= 0, got {value}")
        if not 0 <= max_time_fraction <= 1:
            raise ValueError(f"max_time_fraction: expected a fraction in [0, 1], got {max_time_fraction}")
        self.freq_masks, self.freq_width, self.time_masks = freq_masks, freq_width, time_masks
        self.time_width, self.max_time_fraction = time_width, max_time_fraction

    def _masks(self, count: int, widest: Tensor, size: int, batch: int, device: torch.device) -> Tensor:
        """``(B, size)`` bool: ``count`` random spans per row, each of width ``< widest[row] + 1``."""
        steps = torch.arange(size, device=device)
        mask = torch.zeros(batch, size, dtype=torch.bool, device=device)
        for _ in range(count):
            width = (torch.rand(batch, device=device) * (widest + 1)).long()
            start = (torch.rand(batch, device=device) * (size - width + 1).clamp(min=1)).long()
            mask |= (steps >= start[:, None]) & (steps < (start + width)[:, None])
        return mask

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        if not self.training or (self.freq_masks == 0 and self.time_masks == 0):
            return features
        batch, steps, channels = features.shape
        device = features.device
        freq = self._masks(self.freq_masks, torch.full((batch,), float(self.freq_width), device=device), channels,
                           batch, device)
        widest = torch.minimum(torch.full((batch,), float(self.time_width), device=device),
                               lengths.to(device).float() * self.max_time_fraction).floor()
        time = self._masks(self.time_masks, widest, steps, batch, device)
        return features.masked_fill(freq[:, None, :] | time[:, :, None], 0.0)


def stack_frames(features: Tensor, lengths: Tensor, stride: int) -> tuple[Tensor, Tensor]:
    """Concatenate every ``stride`` consecutive frames: ``(B, T, F) -> (B, ceil(T / stride), stride · F)``; frames
    past each length count as zeros (so a last, incomplete group is zero-padded whatever the padding held); lengths
    become ``ceil(lengths / stride)``."""
    if stride == 1:
        return features, lengths
    batch, steps, channels = features.shape
    valid = torch.arange(steps, device=features.device) < lengths.to(features.device)[:, None]
    padded = nn.functional.pad(features * valid[..., None], (0, 0, 0, (-steps) % stride))
    return padded.reshape(batch, -1, stride * channels), torch.div(lengths + stride - 1, stride, rounding_mode="floor")


class CTCRecognizer(nn.Module):
    """``features (B, T, input_size), lengths (B,) -> log-probabilities (B, T', num_classes), lengths (B,)`` with
    ``T' = ceil(T / stride)``; class 0 is the CTC blank.

    SpecAugment (training only) → stacking of ``stride`` frames → a stacked bidirectional ``lstmkit.nn.LSTM`` run
    with ``lengths`` (padding never enters the recurrence) → dropout → linear head → log-softmax.

    Args:
        num_classes: output classes including the blank (from the data).
        input_size: features per frame (mel bands).
        hidden_size, num_layers: LSTM units per direction, stacked layers.
        stride: frames stacked into one LSTM step (frame-rate reduction: 10 ms frames -> ``10 · stride`` ms steps).
        dropout: between LSTM layers and before the head.
        spec_augment: :class:`SpecAugment` arguments, or ``None`` for none.
        backend: ``lstmkit.nn.LSTM`` backend.
        lstm_options: further ``lstmkit.nn.LSTM`` options.
    """

    def __init__(self, num_classes: int, input_size: int = 40, hidden_size: int = 128, num_layers: int = 2,
                 stride: int = 3, dropout: float = 0.2, spec_augment: dict[str, Any] | None = None,
                 backend: str = "auto", lstm_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes: expected the blank and at least one label (>= 2), got {num_classes}")
        if stride < 1:
            raise ValueError(f"stride: expected frames per step >= 1, got {stride}")
        self.stride = stride
        self.spec_augment = SpecAugment(**spec_augment) if spec_augment else nn.Identity()
        self.lstm = LSTM(stride * input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         bidirectional=True, dropout=dropout if num_layers > 1 else 0.0, backend=backend,
                         **(lstm_options or {}))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if isinstance(self.spec_augment, SpecAugment):
            features = self.spec_augment(features, lengths)
        steps, step_lengths = stack_frames(features, lengths, self.stride)
        output, _ = self.lstm(steps, lengths=step_lengths)  # (B, T', 2H), zero past each length
        return self.head(self.dropout(output)).log_softmax(-1), step_lengths
