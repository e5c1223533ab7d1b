"""Token tagging: cross-entropy over the real tokens only; tag-level accuracy and macro precision/recall/F1
(torchmetrics, over tokens), and — when the tags follow the BIO scheme (``O``, ``B-X``, ``I-X``) — entity-level
precision/recall/F1 (seqeval's CoNLL-2000 definition: an entity counts when its type and span match exactly).

Batches ``(tokens (B, T), lengths (B,), tags (B, T), lengths (B,))`` from :mod:`lstmkit.data.conll`.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassPrecision, MulticlassRecall

from lstmkit.data.sequences import trim
from lstmkit.models.attention import lengths_mask
from lstmkit.tasks.vocabulary import VocabularySizedTask
from lstmkit.utils.imports import require


def is_bio(tags: list[str]) -> bool:
    return all(t == "O" or t[:2] in ("B-", "I-") for t in tags) and any(t != "O" for t in tags)


class TaggingTask(VocabularySizedTask):
    """Args:
        media_examples: sentences shown with their predicted tags in TensorBoard (``<stage>/tagged``).
        **task_args: see :class:`~lstmkit.tasks.vocabulary.VocabularySizedTask`; ``net.vocab_size`` and
            ``net.num_tags`` come from the data.
    """

    sizes = {"vocab_size": "tokens", "num_tags": "tags"}

    def __init__(self, *, best_metric: str = "val/f1", best_mode: str = "max", media_examples: int = 5,
                 **task_args: Any) -> None:
        super().__init__(best_metric=best_metric, best_mode=best_mode, **task_args)
        self._sentences: dict[str, tuple[list[list[str]], list[list[str]], list[list[str]]]] = {}

    def make_metrics(self) -> MetricCollection:
        tags = int(self.hparams.net["num_tags"]) if "net" in self.hparams else self.net.head.out_features
        return MetricCollection({"accuracy": MulticlassAccuracy(tags, average="micro"),
                                 "precision": MulticlassPrecision(tags, average="macro"),
                                 "recall": MulticlassRecall(tags, average="macro"),
                                 "f1": MulticlassF1Score(tags, average="macro")})

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        tokens, lengths, tags, _ = trim(batch)
        logits = self.net(tokens, lengths)  # (B, T, num_tags)
        valid = lengths_mask(lengths, tokens.shape[1])
        self._batch = (tokens, lengths, logits.detach().argmax(-1), tags)
        return F.cross_entropy(logits[valid], tags[valid]), logits[valid], tags[valid]

    def _keep(self, stage: str) -> None:
        words, tags = self.hparams.vocabs["tokens"], self.hparams.vocabs["tags"]
        tokens, lengths, predicted, target = self._batch
        kept = self._sentences.setdefault(stage, ([], [], []))
        for i, n in enumerate(lengths.tolist()):
            kept[0].append([words[t] for t in tokens[i, :n].tolist()])
            kept[1].append([tags[t] for t in target[i, :n].tolist()])
            kept[2].append([tags[t] for t in predicted[i, :n].tolist()])

    def on_validation_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._keep("val")

    def on_test_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._keep("test")

    def on_validation_epoch_start(self) -> None:
        self._sentences.pop("val", None)

    def on_test_epoch_start(self) -> None:
        self._sentences.pop("test", None)

    def _log_entities(self, stage: str) -> None:
        if stage not in self._sentences or not is_bio(self.hparams.vocabs["tags"]):
            return
        metrics = require("seqeval.metrics", "data", "entity-level tagging metrics")
        _, target, predicted = self._sentences[stage]
        for name in ("precision", "recall", "f1"):
            self.log(f"{stage}/entity_{name}", float(getattr(metrics, f"{name}_score")(target, predicted)))

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._log_entities("val")
        super().on_validation_epoch_end()

    def on_test_epoch_end(self) -> None:
        self._log_entities("test")
        super().on_test_epoch_end()

    def log_media(self, stage: str) -> None:
        words, target, predicted = self._sentences.get(stage, ([], [], []))
        lines = []
        for w, t, p in list(zip(words, target, predicted))[: self.hparams.media_examples]:
            lines.append("| word | " + " | ".join(w) + " |\n|" + "---|" * (len(w) + 1) + "\n| true | "
                         + " | ".join(t) + " |\n| predicted | " + " | ".join(p) + " |")
        self.log_text(f"{stage}/tagged", "\n\n".join(lines))
