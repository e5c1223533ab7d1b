"""Sequence-to-sequence training (teacher forcing) and evaluation by decoding: phoneme error rate (``per``: edit
distance over phonemes / reference phonemes) and word error rate (``wer``: share of words whose whole output is
not exactly right), both torchmetrics' ``WordErrorRate`` — over phonemes, and over whole pronunciations.

Several references per input (e.g. a word's pronunciations; the standard G2P protocol of Bisani & Ney 2008): when
a validation/test batch has a 5th tensor ``(B, K, M)`` of alternative references (0-padded, all-zero rows are
padding), each output is scored against the alternative closest to it (least edit distance; the first on ties),
so ``wer`` counts an output right when it equals *any* reference and ``per`` uses the closest one. Without it, the
batch's single target is the reference.

Validation decodes greedily, testing with a beam of ``test_beam_size``. The training-stage ``per``/``wer`` are
teacher-forced (the argmax after each true prefix), so they are optimistic; validation and test are not.
Attention heatmaps (output step x input letter) go to TensorBoard as ``<stage>/attention``.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import WordErrorRate

from lstmkit.data.sequences import pad, trim
from lstmkit.models.seq2seq import EnsembleSeq2Seq
from lstmkit.tasks.base import new_figure
from lstmkit.tasks.vocabulary import VocabularySizedTask


class SequenceErrorRate(WordErrorRate):
    """``WordErrorRate`` over rows of token ids ``(B, L)`` (0 = padding, dropped). ``whole=True`` scores each row
    as one unit, i.e. the share of rows that are not exactly right."""

    def __init__(self, whole: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.whole = whole

    def _strings(self, ids: Tensor) -> list[str]:
        joiner = "_" if self.whole else " "
        return [joiner.join(str(i) for i in row if i) or "<empty>" for row in ids.tolist()]

    def update(self, preds: Tensor, target: Tensor) -> None:
        super().update(self._strings(preds), self._strings(target))


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance (unit-cost insertions, deletions, substitutions). Written here: torchmetrics keeps
    its own private, and eight lines beat a new dependency for choosing among a word's few references."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def closest_references(predicted: Tensor, alternatives: Tensor) -> Tensor:
    """Per row of ``predicted (B, L)`` (0 = padding), its closest non-empty row of ``alternatives (B, K, M)``
    by edit distance (the first on ties): ``(B, M)``."""
    choice = []
    for output, options in zip(predicted.tolist(), alternatives.tolist()):
        options = [(k, [t for t in option if t]) for k, option in enumerate(options)]
        options = [(k, option) for k, option in options if option]
        if len(options) <= 1:
            choice.append(options[0][0] if options else 0)
            continue
        output = [t for t in output if t]
        choice.append(min(options, key=lambda option: edit_distance(output, option[1]))[0])  # min: first on ties
    index = alternatives.new_tensor(choice)
    return alternatives[alternatives.new_tensor(range(len(choice))), index]


class Seq2SeqTask(VocabularySizedTask):
    """Args:
        test_beam_size: beam width when testing (1: greedy); validation is greedy.
        max_output_length: decoding stops after this many tokens.
        media_examples: attention heatmaps per logged stage.
        **task_args: see :class:`~lstmkit.tasks.vocabulary.VocabularySizedTask`; the vocabulary sizes come from
            the data.
    """

    sizes = {"source_vocab_size": "letters", "target_vocab_size": "phonemes"}

    def __init__(self, *, best_metric: str = "val/wer", best_mode: str = "min", test_beam_size: int = 5,
                 max_output_length: int = 30, media_examples: int = 4, **task_args: Any) -> None:
        super().__init__(best_metric=best_metric, best_mode=best_mode, **task_args)
        self._media: dict[str, tuple[Tensor, Tensor]] = {}

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"per": SequenceErrorRate(), "wer": SequenceErrorRate(whole=True)})

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        source, lengths, target, _, *alternatives = trim(batch)  # target: <bos> ... <eos> 0 0
        logits, _ = self.net(source, lengths, target[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), target[:, 1:].flatten(), ignore_index=0)
        reference = target[:, 1:].masked_fill(target[:, 1:] == self.net.eos_id, 0)
        if self.training:
            predicted = logits.argmax(-1).masked_fill(reference == 0, 0)
        else:
            beam = self.hparams.test_beam_size if self.trainer.testing else 1
            predicted, attention = self.net.beam_search(source, lengths, beam, self.hparams.max_output_length)
            stage = "test" if self.trainer.testing else "val"
            if stage not in self._media:
                self._media[stage] = (source[: self.hparams.media_examples].cpu(), predicted.cpu(), attention.cpu())
            if alternatives:
                reference = closest_references(predicted, alternatives[0])
        return loss, predicted, reference

    def on_validation_epoch_start(self) -> None:
        self._media.pop("val", None)

    def on_test_epoch_start(self) -> None:
        self._media.pop("test", None)

    def ensemble(self, others: list[Seq2SeqTask]) -> None:
        """Decode (and score) with this network and ``others``' together (:class:`EnsembleSeq2Seq`); they must have
        been trained on the same vocabularies."""
        for other in others:
            if other.hparams.vocabs != self.hparams.vocabs:
                raise ValueError("ensemble: every member must have the same vocabularies (letters and phonemes)")
        self.net = EnsembleSeq2Seq([self.net, *(other.net for other in others)])

    def transcribe(self, words: list[str], beam_size: int = 1) -> list[list[str]]:
        """Phonemes for ``words`` (lower-case letters), decoded with ``beam_size``."""
        letters, phonemes = self.hparams.vocabs["letters"], self.hparams.vocabs["phonemes"]
        index = {t: i for i, t in enumerate(letters)}
        source, lengths = pad([[index.get(ch, 1) for ch in word] for word in words])
        self.net.eval()
        ids, _ = self.net.beam_search(source.to(self.device), lengths.to(self.device), beam_size,
                                      self.hparams.max_output_length)
        return [[phonemes[i] for i in row if i] for row in ids.tolist()]

    def log_media(self, stage: str) -> None:
        if stage not in self._media:
            return
        letters, phonemes = self.hparams.vocabs["letters"], self.hparams.vocabs["phonemes"]
        source, predicted, attention = self._media[stage]
        figure = new_figure(figsize=(3 * len(source), 3), layout="tight")
        if figure is None:
            return
        for i, row in enumerate(source.tolist()):
            word = [letters[t] for t in row if t]
            output = [phonemes[t] for t in predicted[i].tolist() if t]
            axes = figure.add_subplot(1, len(source), i + 1)
            axes.imshow(attention[i, : len(output) + 1, : len(word)].numpy(), cmap="viridis", vmin=0, vmax=1)
            axes.set_xticks(range(len(word)), word)
            axes.set_yticks(range(len(output) + 1), [*output, "</s>"])
            axes.set_title("".join(word))
        self.log_figure(f"{stage}/attention", figure)
