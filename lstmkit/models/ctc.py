"""CTC decoding: greedy (best path) and prefix beam search (Graves 2006, §3.2; Hannun et al. 2014, "First-Pass
Large Vocabulary Continuous Speech Recognition using Bi-Directional Recurrent DNNs", without a language model).

Written by hand: no well-kept pip package decodes CTC without heavy dependencies (torchaudio's decoder pins torch,
pyctcdecode needs kenlm for anything beyond this).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from lstmkit.data.sequences import pad

NEG_INF = -math.inf


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """The labelling of a CTC path: merge repeated labels, then remove blanks (``a a _ a b b`` -> ``a a b``)."""
    labels, previous = [], None
    for label in path:
        if label != previous and label != blank:
            labels.append(int(label))
        previous = label
    return labels


def greedy_decode(log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best-path decoding of ``log_probs (B, T, C)``: the most likely label per frame, collapsed; each row read up
    to its ``lengths`` entry (default: all ``T`` frames)."""
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs: expected (batch, frames, classes), got shape {tuple(log_probs.shape)}")
    best = log_probs.argmax(-1).cpu()
    lengths = [best.shape[1]] * len(best) if lengths is None else lengths.tolist()
    return [collapse(row[:n].tolist(), blank) for row, n in zip(best, lengths)]


def _logsumexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    top = max(a, b)
    return top + math.log1p(math.exp(-abs(a - b)))


def _add(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], index: int, value: float) -> None:
    """Add probability ``exp(value)`` to ``beams[prefix][index]`` (0: ending in blank, 1: in the last label)."""
    entry = beams.setdefault(prefix, [NEG_INF, NEG_INF])
    entry[index] = _logsumexp(entry[index], value)


def prefix_beam_search(log_probs: Tensor, beam_size: int = 8, blank: int = 0,
                       prune: float | None = 1e-4) -> list[int]:
    """The most probable labelling of one utterance ``log_probs (T, C)`` found by CTC prefix beam search.

    Each prefix carries the probability of all alignments of its frames that end in a blank (``p_b``) and in its
    last label (``p_nb``); a label equal to the prefix's last one extends it only after a blank. After every frame
    the ``beam_size`` prefixes with the highest ``p_b + p_nb`` survive. ``prune``: labels whose probability at a
    frame is below it are not tried there (``None``: try all). With a beam as large as the number of prefixes the
    search is exact: it returns the labelling with the highest total probability over its alignments, which
    best-path decoding can miss.
    """
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs: expected (frames, classes), got shape {tuple(log_probs.shape)}")
    if beam_size < 1:
        raise ValueError(f"beam_size: expected at least 1, got {beam_size}")
    table = log_probs.detach().double().cpu()
    threshold = NEG_INF if prune is None else math.log(prune)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}  # prefix -> (log p_b, log p_nb)
    for t in range(table.shape[0]):
        row = table[t].tolist()
        labels = [c for c, p in enumerate(row) if c != blank and p >= threshold]
        if not labels:  # keep at least the frame's best label
            labels = [max((c for c in range(len(row)) if c != blank), key=row.__getitem__)]
        following: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_b, p_nb) in beams.items():
            total = _logsumexp(p_b, p_nb)
            _add(following, prefix, 0, total + row[blank])  # a blank keeps the prefix
            last = prefix[-1] if prefix else None
            for c in labels:
                if c == last:
                    _add(following, prefix, 1, p_nb + row[c])  # the repeated label merges into the last one
                    _add(following, prefix + (c,), 1, p_b + row[c])  # after a blank it is a new label
                else:
                    _add(following, prefix + (c,), 1, total + row[c])
        ranked = sorted(following.items(), key=lambda item: (-_logsumexp(*item[1]), item[0]))
        beams = {prefix: (p_b, p_nb) for prefix, (p_b, p_nb) in ranked[:beam_size]}
    return list(max(beams.items(), key=lambda item: (_logsumexp(*item[1]), [-c for c in item[0]]))[0])


def beam_decode(log_probs: Tensor, lengths: Tensor | None = None, beam_size: int = 8, blank: int = 0,
                prune: float | None = 1e-4) -> list[list[int]]:
    """:func:`prefix_beam_search` for each row of ``log_probs (B, T, C)``, read up to its ``lengths`` entry."""
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs: expected (batch, frames, classes), got shape {tuple(log_probs.shape)}")
    lengths = [log_probs.shape[1]] * len(log_probs) if lengths is None else lengths.tolist()
    return [prefix_beam_search(row[:n], beam_size, blank, prune) for row, n in zip(log_probs, lengths)]


def pad_labels(labellings: Sequence[Sequence[int]]) -> Tensor:
    """``(B, max(1, longest))`` int64 padded with 0 (the blank, never a label)."""
    return pad(labellings, max([1, *map(len, labellings)]))[0]
