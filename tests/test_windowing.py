"""Windowing shapes and alignment on a series whose values are their own row numbers, and the leakage rule."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.prep import FillMissing
from lstmkit.data.windowing import SplitPoints, chronological_split, make_windows


@pytest.fixture
def frame():
    """Row r holds y = r, x = 100 + r, known = 1000 + r: every window value names its row."""
    rows = np.arange(20.0)
    return pd.DataFrame({"y": rows, "x": 100 + rows, "known": 1000 + rows})


def test_windows_by_hand(frame):
    splits = SplitPoints.from_positions(frame.index, 12, 16)
    windows = make_windows(frame, "y", 3, 2, splits, past_covariates=["x"], future_covariates=["known"])
    train, val, test = windows["train"], windows["val"], windows["test"]
    # train: targets within rows 0..11, inputs need 3 earlier rows → origins 3..10
    np.testing.assert_array_equal(train.origins, np.arange(3, 11))
    assert train.inputs.shape == (8, 3, 2) and train.targets.shape == (8, 2) and train.future.shape == (8, 2, 1)
    np.testing.assert_array_equal(train.inputs[0], [[0, 100], [1, 101], [2, 102]])
    np.testing.assert_array_equal(train.targets[0], [3, 4])
    np.testing.assert_array_equal(train.future[0, :, 0], [1003, 1004])
    np.testing.assert_array_equal(train.targets[-1], [10, 11])
    # val: targets within rows 12..15; the first window's inputs are train rows 9..11 (observed before it)
    np.testing.assert_array_equal(val.origins, [12, 13, 14])
    np.testing.assert_array_equal(val.inputs[0, :, 0], [9, 10, 11])
    np.testing.assert_array_equal(val.targets, [[12, 13], [13, 14], [14, 15]])
    np.testing.assert_array_equal(test.origins, [16, 17, 18])
    np.testing.assert_array_equal(test.targets[-1], [18, 19])
    assert train.inputs.dtype == np.float32 and train.origins.dtype == np.int64


@pytest.mark.parametrize("sizes", [(50, 7, 3, 30, 40), (64, 1, 1, 40, 40), (33, 5, 4, 20, 27)])
def test_no_window_reads_a_later_split(sizes):
    n, input_length, horizon, val_start, test_start = sizes
    frame = pd.DataFrame({"y": np.arange(n, dtype=float)})
    splits = SplitPoints.from_positions(frame.index, val_start, test_start)
    windows = make_windows(frame, "y", input_length, horizon, splits)
    bounds = {"train": (0, val_start), "val": (val_start, test_start), "test": (test_start, n)}
    for split, (start, stop) in bounds.items():
        w = windows[split]
        if stop == start:
            assert len(w) == 0
            continue
        assert w.targets.min() >= start and w.targets.max() < stop  # targets inside the split
        assert (w.inputs[:, :, 0] < w.origins[:, None]).all() and (w.inputs[:, -1, 0] == w.origins - 1).all()
        # every possible window is there: origins run from the first complete one to the last
        np.testing.assert_array_equal(w.origins, np.arange(max(start, input_length), stop - horizon + 1))


def test_sine_split_80_20():
    frame = pd.DataFrame({"y": np.sin(np.arange(0, 100, 0.1))})
    splits = chronological_split(frame.index, val_fraction=0.0, test_fraction=0.2)
    windows = make_windows(frame, "y", 10, 1, splits)
    assert splits.positions(frame.index) == (800, 800, 1000)
    assert len(windows["train"]) == 790 and len(windows["val"]) == 0 and len(windows["test"]) == 200
    np.testing.assert_allclose(windows["test"].targets[:, 0], np.sin(np.arange(800, 1000) * 0.1).astype(np.float32))


def test_stride_spaces_origins(frame):
    splits = SplitPoints.from_positions(frame.index, 12, 16)
    np.testing.assert_array_equal(make_windows(frame, "y", 2, 1, splits, stride=3)["train"].origins, [2, 5, 8, 11])


def test_split_labels_survive_dropped_rows():
    index = pd.date_range("2001-01-01", periods=12, freq="D")
    frame = pd.DataFrame({"y": np.arange(12.0)}, index=index)
    splits = SplitPoints.from_positions(index, 8, 10)
    frame.iloc[2, 0] = np.nan
    prepared = FillMissing("drop").fit(splits.train_rows(frame)).transform(frame)
    assert splits.positions(prepared.index) == (7, 9, 11)
    assert splits.train_rows(prepared).index[-1] == index[7]


def test_too_few_rows_names_the_window(frame):
    splits = SplitPoints.from_positions(frame.index, 12, 18)
    with pytest.raises(ValueError, match=r"test split has 2 rows .* input_length=3 and horizon=3"):
        make_windows(frame, "y", 3, 3, splits)


def test_missing_values_are_named(frame):
    frame.loc[5, "x"] = np.nan
    with pytest.raises(ValueError, match="column 'x' has missing values"):
        make_windows(frame, "y", 3, 1, SplitPoints.from_positions(frame.index, 12, 16), past_covariates=["x"])


def test_bad_arguments_are_named(frame):
    splits = SplitPoints.from_positions(frame.index, 12, 16)
    with pytest.raises(ValueError, match="horizon must be a positive integer, got 0"):
        make_windows(frame, "y", 3, 0, splits)
    with pytest.raises(ValueError, match="val_start <= test_start"):
        SplitPoints.from_positions(frame.index, 12, 10)
    with pytest.raises(ValueError, match="test_fraction"):
        chronological_split(frame.index, 0.5, 0.5)
