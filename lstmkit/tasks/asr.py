"""Speech recognition with CTC: ``torch.nn.CTCLoss`` (blank 0) on the network's per-frame log-probabilities, and
character and word error rates (torchmetrics' ``CharErrorRate`` and ``WordErrorRate``) of decoded transcripts.

Training and validation decode greedily (best path: :func:`lstmkit.models.ctc.greedy_decode`); testing logs the
greedy rates (``test/cer``, ``test/wer``) and those of a prefix beam search of width ``test_beam_size``
(``test/cer_beam``, ``test/wer_beam``). The training-stage rates come from the network in training mode (dropout,
SpecAugment), so they are pessimistic. TensorBoard media: ``<stage>/log_mel`` (the first utterances' normalised
log-mel features, low frequencies at the bottom, one band per utterance) and ``<stage>/transcripts`` (a table of
references and decodings).

Batches ``(features (B, T, F), lengths (B,), characters (B, L), target lengths (B,))`` from a datamodule whose
``vocabularies()`` gives ``characters`` (id 0 the blank, the space one of them):
:class:`lstmkit.data.speech.SpeechDigitsDataModule`. The network maps ``(features, lengths) -> (log-probabilities
(B, T', C), lengths (B,))``: :class:`lstmkit.models.asr.CTCRecognizer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

from lstmkit.data.sequences import trim
from lstmkit.models.ctc import beam_decode, greedy_decode, pad_labels
from lstmkit.tasks.vocabulary import VocabularySizedTask


def ids_to_text(ids: Tensor | Sequence[Sequence[int]], characters: Sequence[str]) -> list[str]:
    """Rows of character ids (0, the blank, is padding and dropped) -> strings."""
    rows = ids.tolist() if isinstance(ids, Tensor) else ids
    return ["".join(characters[i] for i in row if i) for row in rows]


class _IdsToText:
    """Mixin: ``update(preds, target)`` with rows of character ids instead of strings.

    Args:
        characters: the alphabet (``characters[id]``), or ``None`` until it is known.
    """

    def __init__(self, characters: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.characters = None if characters is None else list(characters)

    def update(self, preds: Tensor, target: Tensor) -> None:
        if self.characters is None:
            raise RuntimeError("characters: the alphabet is not known yet; the task's setup() takes it from the data")
        super().update(ids_to_text(preds, self.characters), ids_to_text(target, self.characters))


class CharacterErrorRate(_IdsToText, CharErrorRate):
    """torchmetrics' ``CharErrorRate`` (character edit distance / reference characters, spaces included) over
    rows of character ids (``characters``: see :class:`_IdsToText`)."""


class TranscriptWordErrorRate(_IdsToText, WordErrorRate):
    """torchmetrics' ``WordErrorRate`` (word edit distance / reference words, separated by ``" "``) over rows of
    character ids (``characters``: see :class:`_IdsToText`)."""


def spectrogram_strip(features: Sequence[Tensor]) -> Tensor:
    """Feature matrices ``(T_i, F)`` -> one image ``(1, n · (F + 1) - 1, max T_i)`` in [0, 1]: each utterance a
    band with its lowest channel at the bottom, bands separated by white lines, time padded with black."""
    width = max(len(f) for f in features)
    bands = []
    for i, matrix in enumerate(features):
        band = torch.zeros(matrix.shape[1], width)
        scaled = (matrix - matrix.min()) / (matrix.max() - matrix.min()).clamp(min=1e-6)
        band[:, : len(matrix)] = scaled.T.flip(0)
        bands.append(band)
        if i < len(features) - 1:
            bands.append(torch.ones(1, width))
    return torch.cat(bands)[None]


class SpeechRecognitionTask(VocabularySizedTask):
    """Args:
        test_beam_size: prefix beam width for the ``test/…_beam`` rates.
        beam_prune: labels below this probability at a frame are not tried by the beam search (``None``: all).
        media_examples: utterances shown per logged stage.
        **task_args: see :class:`~lstmkit.tasks.vocabulary.VocabularySizedTask`; ``net.num_classes`` comes from
            the data.
    """

    sizes = {"num_classes": "characters"}

    def __init__(self, *, best_metric: str = "val/cer", best_mode: str = "min", test_beam_size: int = 8,
                 beam_prune: float | None = 1e-4, media_examples: int = 4, **task_args: Any) -> None:
        super().__init__(best_metric=best_metric, best_mode=best_mode, **task_args)
        if test_beam_size < 1:
            raise ValueError(f"test_beam_size: expected a beam width >= 1, got {test_beam_size}")
        self.test_beam_metrics = self.make_metrics().clone(prefix="test/", postfix="_beam")
        self._media: dict[str, dict[str, list]] = {}

    @property
    def characters(self) -> list[str] | None:
        return (self.hparams.get("vocabs") or {}).get("characters")

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"cer": CharacterErrorRate(self.characters),
                                 "wer": TranscriptWordErrorRate(self.characters)})

    def setup(self, stage: str) -> None:
        super().setup(stage)
        self.test_beam_metrics = self.make_metrics().clone(prefix="test/", postfix="_beam")

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        features, lengths, targets, target_lengths = trim(batch)
        log_probs, out_lengths = self.net(features, lengths)
        # zero_infinity: an utterance too short for its transcript (impossible alignment) adds no inf/NaN
        loss = F.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths, blank=0,
                          zero_infinity=True)
        self._outputs = (features, lengths, log_probs.detach(), out_lengths)
        return loss, pad_labels(greedy_decode(log_probs.detach(), out_lengths)), targets

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        outputs = super().validation_step(batch, batch_idx)
        if batch_idx == 0 and not self.trainer.sanity_checking:
            self._keep("val", outputs)
        return outputs

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        outputs = super().test_step(batch, batch_idx)
        _, _, log_probs, out_lengths = self._outputs
        beam = pad_labels(beam_decode(log_probs, out_lengths, self.hparams.test_beam_size,
                                      prune=self.hparams.beam_prune))
        self.test_beam_metrics.update(beam, outputs["target"])
        self.log_dict(self.test_beam_metrics, on_step=False, on_epoch=True)
        if batch_idx == 0:
            self._keep("test", outputs, beam)
        return outputs

    def _keep(self, stage: str, outputs: dict[str, Tensor], beam: Tensor | None = None) -> None:
        features, lengths, _, _ = self._outputs
        n = min(len(lengths), self.hparams.media_examples)
        characters = self.characters
        self._media[stage] = {
            "features": [features[i, : int(lengths[i])].detach().cpu() for i in range(n)],
            "reference": ids_to_text(outputs["target"][:n], characters),
            "greedy": ids_to_text(outputs["preds"][:n], characters),
            "beam": ids_to_text(beam[:n], characters) if beam is not None else None,
        }

    def transcribe(self, features: Tensor, lengths: Tensor, beam_size: int = 1) -> list[str]:
        """Transcripts of normalised log-mel ``features (B, T, F)`` (as the datamodule makes them); ``beam_size``
        1 decodes greedily."""
        self.net.eval()
        with torch.no_grad():
            log_probs, out_lengths = self.net(features.to(self.device), lengths.to(self.device))
        if beam_size == 1:
            labels = greedy_decode(log_probs, out_lengths)
        else:
            labels = beam_decode(log_probs, out_lengths, beam_size, prune=self.hparams.beam_prune)
        return ids_to_text(labels, self.characters)

    def log_media(self, stage: str) -> None:
        media = self._media.get(stage)
        if not media:
            return
        self.log_image(f"{stage}/log_mel", spectrogram_strip(media["features"]))
        beam = media["beam"] or [None] * len(media["reference"])
        header = "| # | reference | greedy |" + (" beam |" if media["beam"] else "")
        rule = "|---|---|---|" + ("---|" if media["beam"] else "")
        rows = [f"| {i} | {ref} | {hyp or '∅'} |" + (f" {b or '∅'} |" if b is not None else "")
                for i, (ref, hyp, b) in enumerate(zip(media["reference"], media["greedy"], beam))]
        self.log_text(f"{stage}/transcripts", "\n".join([header, rule, *rows]))
