"""Windowing a prepared series into ``(input_length, horizon)`` samples with chronological train/val/test splits.

A window with **origin** ``o`` (the row position of its first forecast step) reads inputs from rows
``[o - input_length, o)`` and forecasts the target at rows ``[o, o + horizon)``.

Leakage rule: the rows are cut chronologically into train ``[0, v)``, val ``[v, t)`` and test ``[t, end)``; a window
belongs to the split that holds **all of its target rows**. Its inputs may reach back into earlier splits (those
values are already observed when the forecast is made) but, since they precede ``o``, never into a later split.
So no training window sees a validation or test value, not even as an input, and scaling statistics come from
train rows only (fit the prep pipeline on :meth:`SplitPoints.train_rows`). Windows at a boundary whose targets
straddle two splits are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmkit.data.prep import check_numeric_columns

__all__ = ["SPLITS", "SplitPoints", "Windows", "chronological_split", "make_windows", "windows_at"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitPoints:
    """Split boundaries as index labels, so they survive preparation steps that drop rows.

    Train is every row before ``val_start``, val the rows from ``val_start`` up to ``test_start``, test the rows
    from ``test_start`` up to ``end`` (exclusive; ``None`` runs to the last row).
    """

    val_start: Any
    test_start: Any
    end: Any = None

    @classmethod
    def from_positions(cls, index: pd.Index, val_start: int, test_start: int, end: int | None = None) -> SplitPoints:
        stop = len(index) if end is None else end
        if not 0 < val_start <= test_start < stop <= len(index):
            raise ValueError(
                f"split positions must satisfy 0 < val_start <= test_start < end <= {len(index)}, "
                f"got val_start={val_start}, test_start={test_start}, end={end}"
            )
        return cls(index[val_start], index[test_start], None if stop == len(index) else index[stop])

    def positions(self, index: pd.Index) -> tuple[int, int, int]:
        """``(val_start, test_start, end)`` as row positions in ``index`` (sorted ascending)."""
        if not index.is_monotonic_increasing:
            raise ValueError("the frame's index must be sorted ascending for chronological splits")
        val_start, test_start = (int(index.searchsorted(label)) for label in (self.val_start, self.test_start))
        return val_start, test_start, len(index) if self.end is None else int(index.searchsorted(self.end))

    def train_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The training rows: what every prep step is fitted on."""
        return frame.iloc[: self.positions(frame.index)[0]]


def chronological_split(index: pd.Index, val_fraction: float = 0.1, test_fraction: float = 0.2) -> SplitPoints:
    """Cut ``index`` into train/val/test by fractions of its rows, in time order (test last)."""
    if not (0 <= val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in [0, 1) and (0, 1) "
            "and leave rows for training"
        )
    n = len(index)
    test_start = n - round(test_fraction * n)
    return SplitPoints.from_positions(index, test_start - round(val_fraction * n), test_start)


@dataclass
class Windows:
    """Windows of one split. Input feature 0 is the target itself, then the past covariates in the given order."""

    inputs: np.ndarray  # (N, input_length, 1 + len(past_covariates)) float32
    targets: np.ndarray  # (N, horizon) float32
    future: np.ndarray  # (N, horizon, len(future_covariates)) float32: covariates known at the target steps
    origins: np.ndarray  # (N,) int64: row position of each window's first target step

    def __len__(self) -> int:
        return len(self.origins)


def make_windows(
    frame: pd.DataFrame,
    target: str,
    input_length: int,
    horizon: int,
    splits: SplitPoints,
    past_covariates: Sequence[str] = (),
    future_covariates: Sequence[str] = (),
    stride: int = 1,
) -> dict[str, Windows]:
    """Windows of the prepared ``frame`` for each split of :data:`SPLITS`, following the module's leakage rule.

    ``past_covariates`` are observed alongside the target and enter the inputs; ``future_covariates`` (calendar
    features, planned values) are known ahead and are given at the target steps. ``stride`` spaces the origins
    within a split. A split without rows gives no windows; a split with rows but no complete window is an error.
    """
    for name, value in (("input_length", input_length), ("horizon", horizon), ("stride", stride)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    val_start, test_start, end = splits.positions(frame.index)
    windows = {}
    for split, (start, stop) in zip(SPLITS, ((0, val_start), (val_start, test_start), (test_start, end))):
        origins = np.arange(max(start, input_length), stop - horizon + 1, stride, dtype=np.int64)
        if stop > start and len(origins) == 0:
            raise ValueError(
                f"make_windows: the {split} split has {stop - start} rows (positions {start}..{stop - 1}), too few "
                f"for one window of input_length={input_length} and horizon={horizon}; it needs at least "
                f"{horizon} target rows and {input_length} rows before them"
            )
        windows[split] = windows_at(frame, target, origins, input_length, horizon, past_covariates, future_covariates)
    return windows


def windows_at(
    frame: pd.DataFrame,
    target: str,
    origins: np.ndarray,
    input_length: int,
    horizon: int,
    past_covariates: Sequence[str] = (),
    future_covariates: Sequence[str] = (),
) -> Windows:
    """The windows with the given ``origins`` (row positions of the first forecast step), in that order."""
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and (origins.min() < input_length or origins.max() + horizon > len(frame)):
        raise ValueError(
            f"windows_at: origins must lie in [{input_length}, {len(frame) - horizon}] for input_length="
            f"{input_length}, horizon={horizon} and {len(frame)} rows, got [{origins.min()}, {origins.max()}]"
        )
    inputs_columns = [target, *past_covariates]
    check_numeric_columns(frame, [*inputs_columns, *future_covariates], "make_windows")
    read = frame.iloc[: origins.max() + horizon] if origins.size else frame.iloc[:0]
    for column in [*inputs_columns, *future_covariates]:
        if read[column].isna().any():
            first = read.index[read[column].isna().to_numpy().argmax()]
            raise ValueError(f"make_windows: column {column!r} has missing values (first at {first!r}); fill them")
    steps = np.arange(horizon)
    return Windows(
        inputs=read[inputs_columns].to_numpy(np.float32)[origins[:, None] + np.arange(-input_length, 0)],
        targets=read[target].to_numpy(np.float32)[origins[:, None] + steps],
        future=read[list(future_covariates)].to_numpy(np.float32)[origins[:, None] + steps],
        origins=origins,
    )
