"""Data-preparation steps against numpy/pandas computations written here, fitted on the training split only."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.prep import CalendarFeatures, ClipOutliers, EncodeCategorical, FillMissing, Pipeline, Scale
from lstmkit.data.windowing import SplitPoints


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    index = pd.date_range("2000-01-01", periods=40, freq="W")
    return pd.DataFrame(
        {"y": rng.normal(10, 3, 40).cumsum(), "x": rng.gamma(2.0, 2.0, 40), "kind": rng.choice(["a", "b", "c"], 40)},
        index=index,
    )


def test_interpolate_is_linear_in_time_between_observations():
    index = pd.to_datetime(["2000-01-01", "2000-01-02", "2000-01-04", "2000-01-08", "2000-01-09"])
    frame = pd.DataFrame({"y": [1.0, np.nan, np.nan, 9.0, np.nan]}, index=index)
    out = FillMissing("interpolate").fit(frame).transform(frame)
    days = np.array([0, 1, 3, 7])
    expected = np.interp(days, [0, 7], [1.0, 9.0])  # 1 + 8·day/7
    np.testing.assert_allclose(out["y"].to_numpy()[:4], expected)
    assert out["y"].iloc[4] == 9.0  # past the last observation: carried forward, never extrapolated


def test_ffill_carries_last_value_and_fills_leading_gap_with_training_mean():
    train = pd.DataFrame({"y": [np.nan, 2.0, np.nan, 6.0]})
    test = pd.DataFrame({"y": [np.nan, 5.0, np.nan]})
    step = FillMissing("ffill").fit(train)
    np.testing.assert_array_equal(step.transform(train)["y"], [4.0, 2.0, 2.0, 6.0])
    np.testing.assert_array_equal(step.transform(test)["y"], [4.0, 5.0, 5.0])  # 4 = mean of the train values


def test_drop_removes_exactly_the_rows_with_missing_values(frame):
    frame.iloc[[3, 7], 0] = np.nan
    frame.iloc[9, 1] = np.nan
    out = FillMissing("drop", columns=["y"]).fit(frame).transform(frame)
    assert list(out.index) == [t for i, t in enumerate(frame.index) if i not in (3, 7)]


def test_iqr_clipping_uses_training_quantiles(frame):
    train, test = frame.iloc[:30], frame.iloc[30:].copy()
    test.iloc[0, 0] = 1e6
    step = ClipOutliers("iqr", columns=["y"]).fit(train)
    q1, q3 = np.percentile(train["y"], [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    np.testing.assert_allclose(step.transform(test)["y"], np.clip(test["y"], low, high))
    assert step.transform(test)["y"].iloc[0] == pytest.approx(high)


def test_zscore_clipping_uses_training_mean_and_std(frame):
    train = frame.iloc[:30]
    step = ClipOutliers("zscore", threshold=1.0, columns=["x"]).fit(train)
    mean, std = train["x"].to_numpy().mean(), train["x"].to_numpy().std()
    np.testing.assert_allclose(step.transform(frame)["x"], np.clip(frame["x"], mean - std, mean + std))


@pytest.mark.parametrize("kind", ["standard", "minmax", "robust"])
def test_scaler_statistics_are_the_training_splits(frame, kind):
    """Leakage test: the scaling learned through the pipeline comes from the training rows alone."""
    splits = SplitPoints.from_positions(frame.index, 24, 32)
    pipeline = Pipeline("y", [Scale(kind, columns=["y", "x"])]).fit(splits.train_rows(frame))
    out = pipeline.transform(frame)
    train = frame.iloc[:24]
    for column in ("y", "x"):
        values = train[column].to_numpy()
        center, spread = {
            "standard": (values.mean(), values.std()),
            "minmax": (values.min(), values.max() - values.min()),
            "robust": (np.median(values), np.subtract(*np.percentile(values, [75, 25]))),
        }[kind]
        np.testing.assert_allclose(out[column], (frame[column] - center) / spread, rtol=1e-12)
    np.testing.assert_allclose(pipeline.inverse_transform(out)[["y", "x"]], frame[["y", "x"]], rtol=1e-12)


def test_inverse_transform_target_undoes_scaling_for_any_shape(frame):
    pipeline = Pipeline("y", [FillMissing(), Scale("standard")]).fit(frame.iloc[:30])
    mean, std = frame["y"].iloc[:30].mean(), frame["y"].iloc[:30].std(ddof=0)
    scaled = np.random.default_rng(1).normal(size=(5, 4, 3))
    np.testing.assert_allclose(pipeline.inverse_transform_target(scaled), scaled * std + mean, rtol=1e-12)


def test_onehot_uses_training_categories_and_inverts(frame):
    train, test = frame.iloc[:20], frame.iloc[20:].copy()
    test.iloc[0, 2] = "unseen"
    step = EncodeCategorical(["kind"], mode="onehot").fit(train)
    out = step.transform(test)
    categories = sorted(set(train["kind"]))
    names = [f"kind={c}" for c in categories]
    expected = np.array([[value == c for c in categories] for value in test["kind"]], dtype=np.float32)
    np.testing.assert_array_equal(out[names].to_numpy(), expected)
    assert out.iloc[0][names].sum() == 0  # unseen → all zeros
    back = step.inverse_transform(out)
    assert list(back.columns) == list(test.columns)
    assert pd.isna(back["kind"].iloc[0]) and list(back["kind"].iloc[1:]) == list(test["kind"].iloc[1:])


def test_index_encoding_reserves_zero_for_unseen(frame):
    train = pd.DataFrame({"kind": ["b", "a", "c", "a"]})
    test = pd.DataFrame({"kind": ["c", "z", "a", None]})
    step = EncodeCategorical(["kind"], mode="index").fit(train)
    np.testing.assert_array_equal(step.transform(test)["kind"], [3, 0, 1, 0])
    assert step.cardinality_ == {"kind": 4}
    assert list(step.inverse_transform(step.transform(test))["kind"].fillna("?")) == ["c", "?", "a", "?"]


def test_calendar_features_are_cyclical_month_and_weekday(frame):
    step = CalendarFeatures(["month", "dayofweek"]).fit(frame)
    out = step.transform(frame)
    months = np.array([t.month for t in frame.index])
    weekdays = np.array([t.weekday() for t in frame.index])
    np.testing.assert_allclose(out["month_sin"], np.sin(2 * np.pi * months / 12))
    np.testing.assert_allclose(out["month_cos"], np.cos(2 * np.pi * months / 12))
    np.testing.assert_allclose(out["dayofweek_sin"], np.sin(2 * np.pi * weekdays / 7))
    assert list(step.inverse_transform(out).columns) == list(frame.columns)


def test_calendar_features_need_datetimes():
    with pytest.raises(TypeError, match="index must hold datetimes"):
        CalendarFeatures().fit(pd.DataFrame({"y": [1.0, 2.0]}))


def test_non_numeric_target_is_named(frame):
    with pytest.raises(TypeError, match="'kind' must be numeric, got dtype"):
        Pipeline("kind", [Scale()]).fit(frame)


def test_all_nan_column_is_named(frame):
    frame["empty"] = np.nan
    with pytest.raises(ValueError, match="'empty' is entirely NaN in the 40 training rows"):
        Pipeline("y", [Scale(columns=["y", "empty"])]).fit(frame)


def test_missing_target_is_named(frame):
    with pytest.raises(KeyError, match="'sales' is not in the frame"):
        Pipeline("sales").fit(frame)


def test_transform_target_matches_the_frame_transform(frame):
    pipeline = Pipeline("y", [Scale("robust")]).fit(frame.iloc[:30])
    values = frame["y"].to_numpy().reshape(8, 5)
    np.testing.assert_allclose(
        pipeline.transform_target(values), pipeline.transform(frame)["y"].to_numpy().reshape(8, 5)
    )
