"""Tokenizers and vocabularies for the text tasks: word or character tokens, ``<pad>``/``<unk>``/``<eos>``/``<bos>``.

Written by hand (a few dozen lines) because torchtext, the usual home of ``Vocab``, is no longer maintained.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

PAD, UNK, EOS, BOS = "<pad>", "<unk>", "<eos>", "<bos>"
LEVELS = ("word", "char")


class Tokenizer:
    r"""Splits lines into tokens and joins tokens back into text.

    ``level="word"``: whitespace-separated words (runs of whitespace collapse to one space); with ``pattern`` (a
    regular expression), its matches instead, e.g. ``r"\w+(?:'\w+)?|[!?]"`` for words (contractions kept whole)
    and the ``!``/``?`` marks, dropping other punctuation (``join`` then gives the tokens, not the line).
    ``level="char"``: every character of the line, spaces included, so ``join(split(line)) == line``.
    ``<eos>`` marks a line end: :meth:`join` turns it back into a newline.
    """

    def __init__(self, level: str = "word", lowercase: bool = False, pattern: str | None = None) -> None:
        if level not in LEVELS:
            raise ValueError(f"level: expected one of {list(LEVELS)}, got {level!r}")
        if pattern is not None and level != "word":
            raise ValueError(f"pattern: only for level='word', got level={level!r}")
        try:
            self.pattern = re.compile(pattern) if pattern is not None else None
        except re.error as error:
            raise ValueError(f"pattern: expected a regular expression, got {pattern!r} ({error})") from None
        if self.pattern is not None and self.pattern.groups:
            raise ValueError(f"pattern: use non-capturing groups (?:...), got {pattern!r}")
        self.level, self.lowercase = level, lowercase

    def split(self, line: str) -> list[str]:
        line = line.lower() if self.lowercase else line
        if self.level == "char":
            return list(line.strip("\n"))
        return self.pattern.findall(line) if self.pattern is not None else line.split()

    def join(self, tokens: Iterable[str]) -> str:
        lines: list[list[str]] = [[]]
        for token in tokens:
            if token == EOS:
                lines.append([])
            else:
                lines[-1].append(token)
        separator = " " if self.level == "word" else ""
        return "\n".join(separator.join(line) for line in lines)

    def tokenize(self, text: str) -> list[str]:
        """All lines of ``text``, each followed by ``<eos>`` (blank lines are skipped)."""
        return [token for line in text.splitlines() if line.strip() for token in (*self.split(line), EOS)]


class Vocabulary:
    """Token <-> id. Ids follow ``tokens``: the specials first, then the rest by falling frequency (ties
    alphabetical), so the same corpus always gives the same ids.

    Args:
        tokens: the id -> token table; must hold ``<unk>`` when unknown tokens are to be mapped.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            duplicates = sorted(t for t, n in Counter(self.tokens).items() if n > 1)
            raise ValueError(f"tokens: expected unique tokens, got duplicates {duplicates[:10]}")

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None,
              specials: Sequence[str] = (PAD, UNK, EOS, BOS)) -> Vocabulary:
        """Count tokens in ``sequences``; keep those seen ``min_freq`` times or more (the ``max_size`` most
        frequent, specials included)."""
        if min_freq < 1:
            raise ValueError(f"min_freq: expected >= 1, got {min_freq}")
        counts = Counter(token for sequence in sequences for token in sequence)
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(specials))]
        return cls([*specials, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def id(self, token: str) -> int:
        """The id of ``token``; ``<unk>``'s id for an unknown token (a ``KeyError`` without ``<unk>``)."""
        found = self.index.get(token)
        if found is None:
            if UNK not in self.index:
                raise KeyError(f"token {token!r} is not in the vocabulary, which has no {UNK} to stand for it")
            return self.index[UNK]
        return found

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.id(token) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    @property
    def pad_id(self) -> int:
        return self.index[PAD]
