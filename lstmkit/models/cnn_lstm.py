"""CNN-LSTM classifiers (Donahue et al. 2015, "Long-term Recurrent Convolutional Networks"; Ordóñez & Roggen 2016,
"Deep Convolutional and LSTM Recurrent Neural Networks for Multimodal Wearable Activity Recognition").

A per-step encoder turns each step into a feature vector, an LSTM reads the features, and a linear head classifies
the final hidden state(s). The encoders:

- :class:`FrameCNN`: a 2-D CNN applied to every frame of a clip ``(B, T, C, H, W) -> (B, T, F)``.
- :class:`WindowCNN`: a 1-D CNN over short windows of a multichannel signal ``(B, T, C) -> (B, N, F)``.
- no encoder: the LSTM reads the input features directly ``(B, T, F)`` (e.g. cepstra).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.models.time_distributed import TimeDistributed
from lstmkit.nn import LSTM


def conv_stack(dims: int, in_channels: int, channels: Sequence[int], kernel_size: int) -> nn.Sequential:
    """Conv → BatchNorm → ReLU → max-pool(2) blocks, 1-D or 2-D."""
    conv, norm, pool = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
                        2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)}[dims]
    layers: list[nn.Module] = []
    for width in channels:
        layers += [conv(in_channels, width, kernel_size, padding=kernel_size // 2), norm(width), nn.ReLU(), pool(2)]
        in_channels = width
    return nn.Sequential(*layers)


class FrameCNN(nn.Module):
    """``clips (B, T, C, H, W) -> features (B, T, feature_size)``: a 2-D CNN, flattened (not average-pooled: where
    things are in the frame matters for motion), then linear, applied to every frame through :class:`TimeDistributed`.

    Args:
        image_size: frame height and width (``H == W``), divisible by ``2 ** len(channels)``.
        in_channels: image channels.
        channels: output channels of each conv block (each block halves H and W).
        feature_size: features per frame.
        kernel_size: convolution kernel size.
    """

    def __init__(self, image_size: int, in_channels: int = 1, channels: Sequence[int] = (16, 32),
                 feature_size: int = 64, kernel_size: int = 3) -> None:
        super().__init__()
        if image_size % 2 ** len(channels):
            raise ValueError(f"image_size: expected a multiple of 2 ** len(channels) = {2 ** len(channels)}, "
                             f"got {image_size}")
        self.feature_size = feature_size
        side = image_size // 2 ** len(channels)
        self.frames = TimeDistributed(nn.Sequential(
            conv_stack(2, in_channels, channels, kernel_size), nn.Flatten(),
            nn.Linear(channels[-1] * side * side, feature_size), nn.ReLU()))

    def forward(self, clips: Tensor) -> Tensor:
        return self.frames(clips)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return lengths


class WindowCNN(nn.Module):
    """``signal (B, T, C) -> features (B, N, feature_size)`` with ``N = (T - window) // hop + 1``: the signal is cut
    into windows of ``window`` steps every ``hop`` steps, and a 1-D CNN (global average pooled, then linear)
    encodes each window through :class:`TimeDistributed`.

    Args:
        in_channels: signal channels.
        window, hop: window length and stride in steps.
        channels: output channels of each conv block (each block halves the window).
        feature_size: features per window.
        kernel_size: convolution kernel size.
    """

    def __init__(self, in_channels: int, window: int = 20, hop: int = 10, channels: Sequence[int] = (32, 64),
                 feature_size: int = 64, kernel_size: int = 5) -> None:
        super().__init__()
        if not 0 < hop <= window:
            raise ValueError(f"hop: expected 0 < hop <= window ({window}), got {hop}")
        self.window, self.hop, self.feature_size = window, hop, feature_size
        self.windows = TimeDistributed(nn.Sequential(
            conv_stack(1, in_channels, channels, kernel_size), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
            nn.Linear(channels[-1], feature_size), nn.ReLU()))

    def forward(self, signal: Tensor) -> Tensor:
        if signal.shape[1] < self.window:
            raise ValueError(f"signal: expected at least window={self.window} steps, got shape {tuple(signal.shape)}")
        windows = signal.unfold(1, self.window, self.hop)  # (B, N, C, window)
        return self.windows(windows)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Windows that lie entirely inside each sequence (at least one)."""
        return ((lengths - self.window).div(self.hop, rounding_mode="floor") + 1).clamp(min=1)


class LSTMClassifier(nn.Module):
    """``x (B, T, ...), lengths (B,) or None -> logits (B, num_classes)``.

    The (optional) encoder maps each step to features; the LSTM runs with ``lengths``, so its final state is the
    state at each sequence's own last step (and the reverse direction starts there). The head reads the last
    layer's final hidden state (``pooling="last"``, both directions concatenated) or the mean of its outputs over
    each sequence's valid steps (``pooling="mean"``: for labels that every step carries, such as a speaker).

    Args:
        num_classes: output classes.
        input_size: features per step when there is no encoder (ignored otherwise: ``encoder.feature_size``).
        encoder: a per-step encoder (:class:`FrameCNN`, :class:`WindowCNN`) or ``None``.
        hidden_size, num_layers, bidirectional: the LSTM.
        pooling: ``"last"`` or ``"mean"`` (see above).
        dropout: between LSTM layers and before the head.
        backend: ``lstmkit.nn.LSTM`` backend.
        lstm_options: further ``lstmkit.nn.LSTM`` options.
    """

    def __init__(self, num_classes: int, input_size: int | None = None, encoder: nn.Module | None = None,
                 hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False, pooling: str = "last",
                 dropout: float = 0.0, backend: str = "auto", lstm_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling: expected 'last' or 'mean', got {pooling!r}")
        self.pooling = pooling
        if encoder is None and input_size is None:
            raise ValueError("input_size: expected the features per step when there is no encoder, got None")
        self.encoder = encoder
        features = encoder.feature_size if encoder is not None else input_size
        self.lstm = LSTM(features, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                         dropout=dropout if num_layers > 1 else 0.0, backend=backend, **(lstm_options or {}))
        self.dropout = nn.Dropout(dropout)
        self.directions = 2 if bidirectional else 1
        self.head = nn.Linear(self.directions * hidden_size, num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.encoder is not None:
            x = self.encoder(x)  # (B, T', F)
            lengths = None if lengths is None else self.encoder.output_lengths(lengths)
        output, (h_n, _) = self.lstm(x, lengths=lengths)  # output (B, T', directions·H); h_n (layers·directions, B, H)
        if self.pooling == "last":
            pooled = torch.cat(list(h_n[-self.directions:]), dim=-1)  # (B, directions·H)
        elif lengths is None:
            pooled = output.mean(1)
        else:  # outputs past each length are zero
            pooled = output.sum(1) / lengths.to(output.device, output.dtype)[:, None]
        return self.head(self.dropout(pooled))
