"""Text classification from a user's CSV/Parquet file (``experiment=text_csv data.path=FILE``).

One row per text: a text column (``text_column``, default ``text``) and a label column (``label_column``, default
``label``; any values, read as strings). The test part is ``test_path`` when given, else a seeded stratified
``test_fraction`` of the file; validation is a fixed ``val_fraction`` of the rest. Tokens and batches are those of
:class:`~lstmkit.data.reviews.ReviewsDataModule` (lower-cased words and ``!``/``?``, HTML tags removed), and so is the
bag-of-words logistic-regression baseline scored at test. An empty text or label is an error naming its rows.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from lstmkit.data.prepared import PreparedDataModule
from lstmkit.data.reviews import WORDS_AND_MARKS, ReviewsDataModule
from lstmkit.data.tables import read_table

__all__ = ["TextCSVDataModule", "read_texts"]


def read_texts(path: str, text_column: str, label_column: str | None) -> tuple[list[str], list[str] | None]:
    """The texts (and labels, when ``label_column`` is given) of a file; empty or missing ones are errors."""
    frame = read_table(path)
    options = {text_column: "data.text_column", label_column: "data.label_column"}
    missing = [c for c in (text_column, label_column) if c is not None and c not in frame.columns]
    if missing:
        raise KeyError(f"{path}: column(s) {missing} not found; the file has {list(frame.columns)} (name yours with "
                       + ", ".join(f"{options[c]}=..." for c in missing) + ")")
    columns = [c for c in (text_column, label_column) if c is not None]
    for column in columns:
        empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if empty.any():
            rows = (empty.to_numpy().nonzero()[0] + 1).tolist()
            raise ValueError(f"{path}: column {column!r} is empty in {len(rows)} data row(s) {rows[:10]}; every row "
                             "needs a text" + (" and a label" if label_column else ""))
    if len(frame) == 0:
        raise ValueError(f"{path}: the file has no data rows")
    texts = frame[text_column].astype(str).tolist()
    return texts, frame[label_column].astype(str).tolist() if label_column else None


class TextCSVDataModule(ReviewsDataModule, PreparedDataModule):
    """Batches ``(tokens (B, T), lengths (B,), labels (B,))`` of the texts of a file.

    Args:
        path: the file; ``None``: the example, the fine-food reviews of :mod:`lstmkit.data.reviews`.
        test_path: a separate test file (same columns); ``None``: ``test_fraction`` of ``path``.
        text_column, label_column: the columns' names.
        test_fraction: the share of ``path`` held out for test (stratified by label, seed 0).
        val_fraction, min_freq, max_length, truncate, token_pattern, batch_size, num_workers, pin_memory: see
            :class:`~lstmkit.data.reviews.ReviewsDataModule`.
    """

    def __init__(self, path: str | None = None, test_path: str | None = None, text_column: str = "text",
                 label_column: str = "label", test_fraction: float = 0.2, val_fraction: float = 0.1,
                 min_freq: int = 1, max_length: int = 400, truncate: str = "head",
                 token_pattern: str = WORDS_AND_MARKS, batch_size: int = 32, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        super().__init__(val_fraction=val_fraction, min_freq=min_freq, max_length=max_length, truncate=truncate,
                         token_pattern=token_pattern, batch_size=batch_size, num_workers=num_workers,
                         pin_memory=pin_memory)
        if test_path is None and not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction: expected a fraction in (0, 1), got {test_fraction}")
        self.path, self.test_path, self.test_fraction = path, test_path, test_fraction
        self.text_column, self.label_column, self.token_pattern = text_column, label_column, token_pattern

    def load(self) -> dict[str, tuple[list[str], list[str]]]:
        if self.path is None:
            return super().load()
        texts, labels = read_texts(self.path, self.text_column, self.label_column)
        if self.test_path is not None:
            train, test = (texts, labels), read_texts(self.test_path, self.text_column, self.label_column)
        else:
            counts = pd.Series(labels).value_counts()
            stratify = labels if counts.min() >= 2 else None
            a, b, c, d = train_test_split(texts, labels, test_size=self.test_fraction, random_state=0,
                                          stratify=stratify)
            train, test = (a, c), (b, d)
        unseen = sorted(set(test[1]) - set(train[1]))
        if unseen:
            raise ValueError(f"{self.test_path or self.path}: test labels {unseen} never occur in the training texts")
        return {"train": train, "test": test}

    def preparation(self) -> dict[str, Any]:
        return {"kind": "text_classification",
                "config": {"text_column": self.text_column, "max_length": self.max_length,
                           "truncate": self.truncate, "token_pattern": self.token_pattern}}
