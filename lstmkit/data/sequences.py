"""Variable-length sequences in fixed-size tensors, so the framework's loaders (default collation, resumable
sampler) batch them: every item is padded with 0 (``<pad>``) to the data set's longest sequence, and
:func:`trim` cuts a batch back to its own longest one."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


def pad(sequences: Sequence[Sequence[int]], length: int | None = None) -> tuple[Tensor, Tensor]:
    """``(N, length)`` int64 padded with 0, and the lengths ``(N,)``."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    padded = np.zeros((len(sequences), length or int(lengths.max())), dtype=np.int64)
    # row-major boolean indexing fills the valid positions row by row, i.e. in the order of the flat tokens
    padded[np.arange(padded.shape[1]) < lengths[:, None]] = np.fromiter(itertools.chain.from_iterable(sequences),
                                                                        dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(padded), torch.from_numpy(lengths)


class PaddedPairs(Dataset):
    """Items ``(source (S,), source_length, target)``: ``target`` is a class id, or a padded sequence
    ``(L,)`` (with its length as a 4th element) when ``targets`` holds sequences."""

    def __init__(self, sources: Sequence[Sequence[int]], targets: Sequence[int] | Sequence[Sequence[int]]) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"targets: expected one per source ({len(sources)}), got {len(targets)}")
        if any(len(s) == 0 for s in sources):
            raise ValueError("sources: every sequence needs at least one token")
        self.sources, self.source_lengths = pad(sources)
        self.sequence_targets = len(targets) > 0 and not isinstance(targets[0], int)
        if self.sequence_targets:
            self.targets, self.target_lengths = pad(targets)
        else:
            self.targets = torch.tensor(targets, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        item = (self.sources[i], self.source_lengths[i], self.targets[i])
        return (*item, self.target_lengths[i]) if self.sequence_targets else item


def trim(batch: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Cut a collated batch of :class:`PaddedPairs` items to its own longest source (and target)."""
    source, source_lengths, target, *target_lengths = batch
    source = source[:, : int(source_lengths.max())]
    if target_lengths:
        return source, source_lengths, target[:, : int(target_lengths[0].max())], target_lengths[0]
    return source, source_lengths, target
