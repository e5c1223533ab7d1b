"""Variable-length sequences in fixed-size tensors, so the framework's loaders (default collation, resumable
sampler) batch them: every item is padded with 0 (``<pad>``) to the data set's longest sequence, and
:func:`trim` cuts a batch back to its own longest one; :class:`BucketedSampler` makes training batches of items
of similar length, so little padding is left after trimming."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from lstmkit.data.resumable import EpochSeededSampler


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
    ``(L,)`` (with its length as a 4th element) when ``targets`` holds sequences. With ``alternatives`` (one
    non-empty list of sequences per source, e.g. every reference pronunciation of a word), items end with a 5th
    element ``(K, M)``: the source's alternatives, padded with 0 to the data set's most alternatives ``K`` and
    longest alternative ``M`` (an all-zero row is padding, not a reference)."""

    def __init__(self, sources: Sequence[Sequence[int]], targets: Sequence[int] | Sequence[Sequence[int]],
                 alternatives: Sequence[Sequence[Sequence[int]]] | None = None) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"targets: expected one per source ({len(sources)}), got {len(targets)}")
        if alternatives is not None and len(alternatives) != len(sources):
            raise ValueError(f"alternatives: expected one list per source ({len(sources)}), got {len(alternatives)}")
        if any(len(s) == 0 for s in sources):
            raise ValueError("sources: every sequence needs at least one token")
        self.sources, self.source_lengths = pad(sources)
        self.sequence_targets = len(targets) > 0 and not isinstance(targets[0], int)
        if self.sequence_targets:
            self.targets, self.target_lengths = pad(targets)
        else:
            self.targets = torch.tensor(targets, dtype=torch.long)
        self.alternatives = None
        if alternatives is not None:
            if not self.sequence_targets or any(len(a) == 0 or any(len(s) == 0 for s in a) for a in alternatives):
                raise ValueError("alternatives: need sequence targets and non-empty lists of non-empty sequences")
            flat, _ = pad([s for a in alternatives for s in a])
            most = max(map(len, alternatives))
            self.alternatives = flat.new_zeros(len(alternatives), most, flat.shape[1])
            counts = torch.tensor([len(a) for a in alternatives])
            self.alternatives[torch.arange(most) < counts[:, None]] = flat  # row-major: in the order of `flat`

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        item = (self.sources[i], self.source_lengths[i], self.targets[i])
        if not self.sequence_targets:
            return item
        item = (*item, self.target_lengths[i])
        return item if self.alternatives is None else (*item, self.alternatives[i])


class BucketedSampler(EpochSeededSampler):
    """Random order from ``seed + epoch`` in which every run of ``batch_size`` indices holds items of similar
    length, so :func:`trim` cuts little padding: the random order is cut into pools of ``pool`` batches, each pool
    sorted by ``lengths``, cut into batches, and the batches shuffled (a short last batch stays last, so the
    loader's batches are exactly these). ``start_at`` resumes as in :class:`EpochSeededSampler` (exactly, for
    the same ``batch_size``)."""

    def __init__(self, lengths: Tensor, batch_size: int, seed: int, pool: int = 50) -> None:
        super().__init__(len(lengths), seed)
        self.lengths, self.batch_size, self.pool = lengths, batch_size, pool

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        batches = []
        for pool in order.split(self.batch_size * self.pool):
            pool = pool[torch.sort(self.lengths[pool], stable=True).indices]
            batches.extend(pool.split(self.batch_size))
        whole = len(batches) - (len(batches) > 0 and len(batches[-1]) < self.batch_size)
        shuffled = [*torch.randperm(whole, generator=generator).tolist(), *range(whole, len(batches))]  # short last
        order = torch.cat([batches[i] for i in shuffled]).tolist() if batches else []
        return iter(order[self.start_at.pop(self.epoch, 0):])


def trim(batch: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Cut a collated batch of :class:`PaddedPairs` items to its own longest source (and target, and
    alternative)."""
    source, source_lengths, target, *rest = batch
    source = source[:, : int(source_lengths.max())]
    if not rest:
        return source, source_lengths, target
    target_lengths, *alternatives = rest
    trimmed = (source, source_lengths, target[:, : int(target_lengths.max())], target_lengths)
    if not alternatives:
        return trimmed
    (alternatives,) = alternatives
    longest = int((alternatives != 0).sum(-1).max())
    return (*trimmed, alternatives[:, :, :longest])
