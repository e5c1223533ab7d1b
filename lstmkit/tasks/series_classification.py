"""Classification of numeric sequences (signals, cepstra, video clips): the metrics, confusion matrix and hooks of
:class:`lstmkit.tasks.classification.SequenceClassificationTask` (accuracy, macro precision/recall/F1), with
numeric inputs instead of tokens, and for clips a strip of example frames in TensorBoard.

Batches ``(x (B, T, ...), lengths (B,), labels (B,))`` from a datamodule whose ``vocabularies()`` gives
``classes`` (:class:`lstmkit.data.series_classification.SequenceClassificationDataModule`); the network maps
``(x, lengths) -> logits (B, C)`` (:class:`lstmkit.models.cnn_lstm.LSTMClassifier`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.tasks.classification import SequenceClassificationTask, confusion_figure


def frame_strip(clips: Tensor, labels: list[str]) -> tuple[Tensor, str]:
    """``clips (N, T, C, H, W)`` in [0, 1] -> one image ``(C, N·(H+1), T·(W+1))``: a row of frames per clip,
    separated by 1-pixel white lines; and a caption naming each row."""
    n, steps, channels, height, width = clips.shape
    image = torch.ones(channels, n * (height + 1), steps * (width + 1))
    for i in range(n):
        for t in range(steps):
            top, left = i * (height + 1), t * (width + 1)
            image[:, top: top + height, left: left + width] = clips[i, t]
    return image, "; ".join(f"row {i}: {label}" for i, label in enumerate(labels))


class SeriesClassificationTask(SequenceClassificationTask):
    """Args:
        media_examples: clips shown as frame strips per logged stage (clip data only).
        **task_args: see :class:`SequenceClassificationTask`; ``net.num_classes`` comes from the data.
    """

    sizes = {"num_classes": "classes"}

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        x, lengths, labels = batch
        x = x[:, : int(lengths.max())]  # the batch's own longest sequence
        self._x = x
        logits = self.net(x, lengths)
        return F.cross_entropy(logits, labels), logits, labels

    def _keep(self, stage: str, outputs: dict[str, Tensor]) -> None:
        predicted = outputs["preds"].argmax(-1).cpu()
        self.confusion[stage].update(predicted, outputs["target"].cpu())
        if self._x.dim() == 5:  # clips (B, T, C, H, W): keep the first media_examples of the stage
            for i in range(min(len(predicted), self.hparams.media_examples - len(self._examples[stage]))):
                self._examples[stage].append((self._x[i].detach().cpu(), int(outputs["target"][i]), int(predicted[i])))

    def log_media(self, stage: str) -> None:
        classes = self.hparams.vocabs["classes"]
        self.log_figure(f"{stage}/confusion_matrix",
                        confusion_figure(self.confusion[stage].compute().cpu(), classes, f"{stage} confusion"))
        if self._examples[stage]:
            clips, targets, guesses = zip(*self._examples[stage])
            labels = [f"true {classes[t]}, predicted {classes[p]}" for t, p in zip(targets, guesses)]
            image, caption = frame_strip(torch.stack(clips).clamp(0, 1), labels)
            self.log_image(f"{stage}/example_frames", image)
            self.log_text(f"{stage}/example_frames_caption", caption)


class SeriesFileClassificationTask(SeriesClassificationTask):
    """:class:`SeriesClassificationTask` whose ``net.input_size`` also comes from the data: the feature columns of
    a file (:class:`lstmkit.data.series_csv.SeriesCSVDataModule`), stored in the checkpoint with the classes."""

    sizes = {"num_classes": "classes", "input_size": "features"}
