"""Cross-validation fold boundaries: expanding origin, no overlap, k-fold partitions."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.windowing import SplitPoints, make_windows
from lstmkit.forecast.cv import Fold, kfold_indices, rolling_origin_folds


def test_rolling_origin_boundaries_by_hand():
    folds = rolling_origin_folds(100, folds=4, test_size=10, val_fraction=0.2)
    # test ranges end at the last row and step back by test_size; val is the last 20 % of the rows before them
    assert folds == [
        Fold(0, 48, 60, 70),
        Fold(1, 56, 70, 80),
        Fold(2, 64, 80, 90),
        Fold(3, 72, 90, 100),
    ]


@pytest.mark.parametrize("n_rows,folds,test_size", [(309, 5, None), (2284, 3, 52), (50, 2, 7)])
def test_rolling_origin_expands_without_overlap(n_rows, folds, test_size):
    result = rolling_origin_folds(n_rows, folds=folds, test_size=test_size, val_fraction=0.1)
    size = test_size or n_rows // (folds + 1)
    assert len(result) == folds and result[-1].test_end == n_rows
    for previous, fold in zip(result, result[1:]):
        assert fold.test_start == previous.test_end  # the origin advances by one test range
        assert fold.val_start >= previous.val_start  # the training rows only grow
    for fold in result:
        assert 0 < fold.val_start <= fold.test_start < fold.test_end
        assert fold.test_end - fold.test_start == size
        assert fold.test_start - fold.val_start == round(0.1 * fold.test_start)


def test_fold_windows_forecast_only_the_fold_test_rows():
    frame = pd.DataFrame({"y": np.arange(120.0)})
    fold = rolling_origin_folds(120, folds=3, test_size=20)[0]  # test rows 60..79; rows 80.. unused
    windows = make_windows(frame, "y", 5, 3, SplitPoints.from_positions(frame.index, *fold.positions))
    assert windows["test"].targets.min() == 60 and windows["test"].targets.max() == 79
    assert windows["train"].targets.max() < fold.val_start
    assert windows["val"].targets.min() >= fold.val_start and windows["val"].targets.max() < 60


def test_rolling_origin_rejects_too_little_training():
    with pytest.raises(ValueError, match="first of 5 folds trains on 10 rows, fewer than min_train_size=20"):
        rolling_origin_folds(60, folds=5, test_size=10, min_train_size=20)


def test_kfold_partitions_the_samples():
    splits = kfold_indices(23, folds=5, seed=3)
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(23))  # each sample tested exactly once
    for train, test in splits:
        assert not set(train) & set(test) and len(train) + len(test) == 23
        assert len(test) in (4, 5)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, kfold_indices(23, folds=5, seed=3)))
    assert not all(
        len(a[1]) == len(b[1]) and (a[1] == b[1]).all() for a, b in zip(splits, kfold_indices(23, 5, seed=4))
    )
