"""Sequence classification with attention pooling: accuracy, macro precision/recall/F1 (torchmetrics), a confusion
matrix figure and attention highlights in TensorBoard, and the datamodule's baseline next to the test metrics.

Batches ``(tokens (B, T), lengths (B,), labels (B,))`` from a datamodule with ``vocabularies()`` giving
``tokens`` and ``classes``; the network returns ``(logits (B, C), attention (B, T))``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from lstmkit.data.sequences import trim
from lstmkit.tasks.base import new_figure
from lstmkit.tasks.vocabulary import VocabularySizedTask


def highlight(tokens: list[str], weights: list[float], top: int = 8) -> str:
    """Markdown: the ``top`` most attended tokens in bold with their weight."""
    ranked = set(sorted(range(len(tokens)), key=lambda i: -weights[i])[:top])
    return " ".join(f"**{t}**<sub>{weights[i]:.2f}</sub>" if i in ranked else t for i, t in enumerate(tokens))


def balanced_class_weights(targets: Tensor, classes: int) -> Tensor:
    """N / (C · N_c) for each class c (scikit-learn's ``class_weight="balanced"``); absent classes get N / C."""
    counts = torch.bincount(targets.flatten(), minlength=classes).double()
    return (counts.sum() / (classes * counts.clamp(min=1))).float()


def confusion_figure(matrix: Tensor, classes: list[str], title: str):
    figure = new_figure(figsize=(3.5, 3), layout="tight")
    if figure is None:
        return None
    axes = figure.add_subplot()
    axes.imshow(matrix.numpy(), cmap="Blues")
    for (i, j), count in zip(torch.cartesian_prod(torch.arange(len(classes)), torch.arange(len(classes))).tolist(),
                             matrix.flatten().tolist()):
        axes.text(j, i, str(count), ha="center", va="center")
    axes.set_xticks(range(len(classes)), classes)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    return figure


class SequenceClassificationTask(VocabularySizedTask):
    """Args:
        media_examples: examples shown with their attention highlights per logged stage.
        class_weights: cross-entropy class weights: ``None`` (plain), ``"balanced"`` (inverse training frequency,
            for imbalanced classes scored by macro-F1) or one weight per class.
        **task_args: see :class:`~lstmkit.tasks.vocabulary.VocabularySizedTask`; ``net.vocab_size`` and
            ``net.num_classes`` come from the data.
    """

    sizes = {"vocab_size": "tokens", "num_classes": "classes"}

    def __init__(self, *, best_metric: str = "val/f1", best_mode: str = "max", media_examples: int = 4,
                 class_weights: str | list[float] | None = None, **task_args: Any) -> None:
        if isinstance(class_weights, str) and class_weights != "balanced":
            raise ValueError(f"class_weights: expected None, 'balanced' or one weight per class, got {class_weights!r}")
        super().__init__(best_metric=best_metric, best_mode=best_mode, **task_args)
        self.confusion: dict[str, MulticlassConfusionMatrix] = {}
        self._examples: dict[str, list[tuple[list[int], list[float], int, int]]] = {"val": [], "test": []}

    @property
    def num_classes(self) -> int:
        return int(self.hparams.net["num_classes"]) if "net" in self.hparams else self.net.head.out_features

    def make_metrics(self) -> MetricCollection:
        classes = self.num_classes
        return MetricCollection({"accuracy": MulticlassAccuracy(classes, average="micro"),
                                 "precision": MulticlassPrecision(classes, average="macro"),
                                 "recall": MulticlassRecall(classes, average="macro"),
                                 "f1": MulticlassF1Score(classes, average="macro")})

    def setup(self, stage: str) -> None:
        super().setup(stage)
        self.confusion = {name: MulticlassConfusionMatrix(self.num_classes) for name in ("val", "test")}
        self.register_buffer("loss_weights", self._class_weights(), persistent=False)

    def _class_weights(self) -> Tensor | None:
        """Cross-entropy weights; ``balanced``: :func:`balanced_class_weights` of the training labels, so that
        every class weighs the same in the loss, as in macro-F1."""
        wanted = self.hparams.get("class_weights")
        if wanted is None:
            return None
        classes = self.num_classes
        if wanted == "balanced":
            datamodule = self.trainer.datamodule if self._trainer is not None else None
            train = getattr(datamodule, "datasets", {}).get("train") if datamodule is not None else None
            if train is None or not hasattr(train, "targets"):
                raise ValueError("class_weights='balanced' needs a datamodule whose datasets['train'] has targets")
            return balanced_class_weights(train.targets, classes)
        if len(wanted) != classes:
            raise ValueError(f"class_weights: expected {classes} weights (one per class), got {len(wanted)}")
        return torch.tensor(list(wanted), dtype=torch.float32)

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        tokens, lengths, labels = trim(batch)
        logits, self._attention = self.net(tokens, lengths)
        self._batch = (tokens, lengths)
        return F.cross_entropy(logits, labels, weight=self.loss_weights), logits, labels

    def _keep(self, stage: str, outputs: dict[str, Tensor]) -> None:
        predicted = outputs["preds"].argmax(-1).cpu()
        self.confusion[stage].update(predicted, outputs["target"].cpu())
        tokens, lengths = self._batch
        for i in range(min(len(lengths), self.hparams.media_examples - len(self._examples[stage]))):
            n = int(lengths[i])
            self._examples[stage].append((tokens[i, :n].tolist(), self._attention[i, :n].tolist(),
                                          int(outputs["target"][i]), int(predicted[i])))

    def on_validation_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.trainer.sanity_checking:
            self._keep("val", outputs)

    def on_test_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._keep("test", outputs)

    def on_validation_epoch_start(self) -> None:
        self.confusion["val"].reset()
        self._examples["val"] = []

    def on_test_epoch_start(self) -> None:
        self.confusion["test"].reset()
        self._examples["test"] = []

    def on_test_epoch_end(self) -> None:
        baseline = getattr(self.trainer.datamodule, "baseline", None)
        if baseline is not None:
            for name, value in baseline().items():
                self.log(f"test/baseline_{name}", float(value))
        super().on_test_epoch_end()

    def log_media(self, stage: str) -> None:
        tokens, classes = self.hparams.vocabs["tokens"], self.hparams.vocabs["classes"]
        self.log_figure(f"{stage}/confusion_matrix",
                        confusion_figure(self.confusion[stage].compute().cpu(), classes, f"{stage} confusion"))
        lines = [f"true **{classes[label]}**, predicted **{classes[guess]}**: "
                 + highlight([tokens[i] for i in ids], weights) for ids, weights, label, guess in self._examples[stage]]
        self.log_text(f"{stage}/attention", "\n\n".join(lines))
