"""Series classification from a user's file (``experiment=series_csv data.path=FILE``).

Two formats:

- **long** CSV/Parquet: one row per (sequence, step) with a sequence id (``id_column``, default ``unique_id``), a
  step order (``step_column``, default ``step``: numbers or times, sorted within each sequence), numeric feature
  columns (``features``; default every other numeric column) and the sequence's ``label`` (``label_column``; the
  same on every row of a sequence). Sequences may differ in length (they are zero-padded, with ``lengths``).
- sktime's **.ts** format (``*.ts``, read with :func:`sktime.datasets.load_from_tsfile`): one sequence per line,
  channels separated by ``:``, the class label last.

The test part is ``test_path`` (same format) when given, else a stratified ``test_fraction`` of the sequences
(seed 0); then everything of :class:`~lstmkit.data.series_classification.SequenceClassificationDataModule`
(stratified validation share, per-feature standardisation with the training statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lstmkit.data.prepared import PreparedDataModule
from lstmkit.data.series_classification import JapaneseVowelsDataModule, SequenceClassificationDataModule, Split
from lstmkit.data.tables import read_table
from lstmkit.utils.imports import require

__all__ = ["SeriesCSVDataModule", "read_sequences"]


def read_sequences(path: str, id_column: str, step_column: str, label_column: str | None,
                   features: Sequence[str] | None) -> tuple[list[str], list[np.ndarray], list[str] | None, list[str]]:
    """``(ids, sequences (T_i, F) float32, labels or None, feature names)`` of a long file or a ``.ts`` file."""
    if str(path).lower().endswith(".ts"):
        datasets = require("sktime.datasets", "data", "reading .ts files")
        try:
            frame, labels = datasets.load_from_tsfile(str(path), return_data_type="nested_univ")
        except Exception as error:  # sktime raises its own TsFileParseException and plain IOError/ValueError
            raise ValueError(f"{path}: not a readable .ts file ({error})") from error
        names = [str(c) for c in frame.columns]
        sequences = [np.stack([cell.to_numpy(np.float32) for cell in row], axis=-1)
                     for row in frame.itertuples(index=False)]
        return [str(i) for i in range(len(sequences))], sequences, [str(y) for y in labels], names
    frame = read_table(path)
    wanted = [id_column, step_column, *([label_column] if label_column else []), *(features or [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise KeyError(f"{path}: column(s) {missing} not found; the file has {list(frame.columns)} (name yours with "
                       "data.id_column, data.step_column, data.label_column, data.features)")
    names = list(features) if features else [c for c in frame.columns if c not in (id_column, step_column,
                                                                                  label_column)
                                             and pd.api.types.is_numeric_dtype(frame[c])]
    for column in names:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise TypeError(f"{path}: feature column {column!r} must be numeric, got dtype {frame[column].dtype}")
        if frame[column].isna().any():
            row = int(frame[column].isna().to_numpy().nonzero()[0][0])
            raise ValueError(f"{path}: feature column {column!r} is empty at data row {row + 1}")
    if not names:
        raise ValueError(f"{path}: no numeric feature columns besides {id_column!r}, {step_column!r}, "
                         f"{label_column!r}; the file has {list(frame.columns)}")
    ids, sequences, labels = [], [], []
    for key, part in frame.groupby(id_column, sort=False):
        steps = part[step_column]
        if not steps.is_monotonic_increasing or steps.duplicated().any():
            raise ValueError(f"{path}: sequence {key!r}: column {step_column!r} must increase strictly within a "
                             "sequence (sort the rows, remove repeated steps)")
        if label_column:
            found = part[label_column].dropna().astype(str).unique()
            if len(found) != 1:
                raise ValueError(f"{path}: sequence {key!r} has labels {list(found)} in column {label_column!r}; "
                                 "expected one label per sequence")
            labels.append(found[0])
        ids.append(str(key))
        sequences.append(part[names].to_numpy(np.float32))
    return ids, sequences, labels if label_column else None, names


class SeriesCSVDataModule(SequenceClassificationDataModule, PreparedDataModule):
    """Batches ``(x (B, T, F), lengths (B,), labels (B,))`` of the sequences of a file.

    Args:
        path: the file (long CSV/Parquet or ``.ts``); ``None``: the example, Japanese Vowels (``data=japanese_vowels``).
        test_path: a separate test file; ``None``: ``test_fraction``.
        id_column, step_column, label_column: the long format's column names.
        features: the feature columns (long format); ``None``: every other numeric column.
        test_fraction: the share of the sequences held out for test (stratified, seed 0).
        val_fraction, standardize, batch_size, num_workers, pin_memory: see
            :class:`~lstmkit.data.series_classification.SequenceClassificationDataModule`.
    """

    def __init__(self, path: str | None = None, test_path: str | None = None, id_column: str = "unique_id",
                 step_column: str = "step", label_column: str = "label", features: Sequence[str] | None = None,
                 test_fraction: float = 0.2, val_fraction: float = 0.1, standardize: bool = True,
                 batch_size: int = 32, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__(val_fraction=val_fraction, standardize=standardize, batch_size=batch_size,
                         num_workers=num_workers, pin_memory=pin_memory)
        self.path, self.test_path, self.test_fraction = path, test_path, test_fraction
        self.id_column, self.step_column, self.label_column = id_column, step_column, label_column
        self.features = list(features) if features else None

    def read(self, path: str, labelled: bool = True) -> tuple[list[str], list[np.ndarray], list[str] | None]:
        ids, sequences, labels, names = read_sequences(path, self.id_column, self.step_column,
                                                       self.label_column if labelled else None, self.features)
        if self.features is None:
            self.features = names
        elif names != self.features:
            raise ValueError(f"{path}: feature columns {names} differ from the training file's {self.features}")
        return ids, sequences, labels

    def load(self) -> dict[str, Split]:
        if self.path is None:
            self.features = self.features or [f"cepstrum_{i}" for i in range(12)]
            return JapaneseVowelsDataModule.load(self)
        _, sequences, labels = self.read(self.path)
        if self.test_path is not None:
            _, test_sequences, test_labels = self.read(self.test_path)
            return {"train": (sequences, labels), "test": (test_sequences, test_labels)}
        stratify = labels if pd.Series(labels).value_counts().min() >= 2 else None
        a, b, c, d = train_test_split(sequences, labels, test_size=self.test_fraction, random_state=0,
                                      stratify=stratify)
        return {"train": (a, c), "test": (b, d)}

    def vocabularies(self) -> dict[str, list[str]]:
        return {"classes": self.classes, "features": list(self.features)}

    def preparation(self) -> dict[str, Any]:
        return {"kind": "series_classification",
                "config": {"id_column": self.id_column, "step_column": self.step_column,
                           "label_column": self.label_column, "features": self.features,
                           "format": "ts" if str(self.path).lower().endswith(".ts") else "long"},
                "mean": self.mean.tolist() if self.standardize else None,
                "std": self.std.tolist() if self.standardize else None}
