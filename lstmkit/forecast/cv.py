"""Cross-validation folds: rolling origin (expanding window) for time series, k-fold for i.i.d. samples.

Both wrap scikit-learn splitters (``TimeSeriesSplit``, ``KFold``). A rolling-origin fold is three consecutive row
ranges — train, val (the tail of the training rows, for early stopping or threshold calibration) and test — and
:attr:`Fold.positions` are what :meth:`lstmkit.data.windowing.SplitPoints.from_positions` takes (the data module's
``split_positions``), so each fold follows the same leakage rule as a single run. Rows after a fold's test range are
not used by that fold. Nothing here imports :mod:`lstmkit.data`, which imports this module: one direction only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "kfold_indices", "rolling_origin_folds"]


@dataclass(frozen=True)
class Fold:
    """Row ranges of one rolling-origin fold: train ``[0, val_start)``, val ``[val_start, test_start)``,
    test ``[test_start, test_end)``."""

    index: int
    val_start: int
    test_start: int
    test_end: int

    @property
    def positions(self) -> tuple[int, int, int]:
        """``(val_start, test_start, test_end)``: the row positions of ``SplitPoints.from_positions``."""
        return self.val_start, self.test_start, self.test_end


def rolling_origin_folds(
    n_rows: int, folds: int = 5, test_size: int | None = None, val_fraction: float = 0.1, min_train_size: int = 1
) -> list[Fold]:
    """``folds`` expanding-window folds over ``n_rows`` rows, the last test range ending at the last row.

    The origin advances by ``test_size`` rows per fold (default: ``n_rows // (folds + 1)``, scikit-learn's), test
    ranges do not overlap, and each fold trains on every row before its test range, holding out the last
    ``round(val_fraction · train rows)`` of them for validation. Raises if the first fold trains on fewer than
    ``min_train_size`` rows.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    from sklearn.model_selection import TimeSeriesSplit  # imported by the folds' users only

    splitter = TimeSeriesSplit(n_splits=folds, test_size=test_size)
    result = []
    for i, (train, test) in enumerate(splitter.split(np.empty((n_rows, 1)))):
        if i == 0 and len(train) < min_train_size:
            raise ValueError(
                f"the first of {folds} folds trains on {len(train)} rows, fewer than min_train_size={min_train_size}; "
                f"use fewer folds or a smaller test_size (got {test_size}) for {n_rows} rows"
            )
        val_start = len(train) - round(val_fraction * len(train))
        result.append(Fold(i, val_start, int(test[0]), int(test[-1]) + 1))
    return result


def kfold_indices(
    n_samples: int, folds: int = 5, shuffle: bool = True, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_indices, test_indices)`` of ``folds``-fold cross-validation over i.i.d. samples (``sklearn.KFold``)."""
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=folds, shuffle=shuffle, random_state=seed if shuffle else None)
    return list(splitter.split(np.empty((n_samples, 1))))
