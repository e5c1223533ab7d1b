"""Anomaly injection on a real series (Nile volumes): reproducible, labelled, disjoint; threshold and scores by hand."""

import numpy as np
import pytest
import statsmodels.api as sm

from lstmkit.forecast.anomaly import (
    calibrate_detection_threshold,
    calibrate_threshold,
    detect_and_impute,
    detection_scores,
    inject_anomalies,
)


@pytest.fixture(scope="module")
def nile():
    return sm.datasets.nile.load_pandas().data["volume"].to_numpy()


def test_injection_is_reproducible(nile):
    first = inject_anomalies(nile, seed=7, spikes=3, level_shifts=1, dropouts=1, shift_length=8, dropout_length=4)
    again = inject_anomalies(nile, seed=7, spikes=3, level_shifts=1, dropouts=1, shift_length=8, dropout_length=4)
    other = inject_anomalies(nile, seed=8, spikes=3, level_shifts=1, dropouts=1, shift_length=8, dropout_length=4)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert first.anomalies == again.anomalies
    assert not np.array_equal(first.labels, other.labels)


def test_injected_anomalies_are_labelled_sized_and_apart(nile):
    result = inject_anomalies(
        nile, seed=0, spikes=4, level_shifts=2, dropouts=1, shift_length=6, dropout_length=3, start=20, min_gap=3
    )
    scale = np.std(np.diff(nile[20:]))  # the documented default scale
    assert sorted(a.kind for a in result.anomalies) == ["dropout"] + ["level_shift"] * 2 + ["spike"] * 4
    assert result.labels.sum() == 4 * 1 + 2 * 6 + 1 * 3
    assert not result.labels[:20].any()
    np.testing.assert_array_equal(result.values[~result.labels], nile[~result.labels])  # clean points untouched
    for anomaly in result.anomalies:
        segment = slice(anomaly.start, anomaly.start + anomaly.length)
        assert result.labels[segment].all()
        if anomaly.kind == "dropout":
            np.testing.assert_array_equal(result.values[segment], 0.0)
        else:
            size = 5.0 if anomaly.kind == "spike" else 3.0
            np.testing.assert_allclose(np.abs(result.values[segment] - nile[segment]), size * scale)
    for before, after in zip(result.anomalies, result.anomalies[1:]):
        assert after.start - (before.start + before.length) >= 3


def test_injection_without_room_is_an_error(nile):
    with pytest.raises(ValueError, match="no room for another level_shift of length 30"):
        inject_anomalies(nile, seed=0, spikes=0, level_shifts=4, dropouts=0, shift_length=30)


def test_f1_threshold_separates_labelled_validation_scores():
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.25])
    labels = np.array([0, 0, 1, 0, 1, 0], dtype=bool)
    threshold = calibrate_threshold(scores, labels, method="f1")
    assert threshold == 0.8  # flags exactly the two anomalies
    assert calibrate_threshold(scores, method="quantile", quantile=0.5) == pytest.approx(np.median(scores))


def test_detection_scores_by_hand():
    flags = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    labels = np.array([1, 0, 1, 0, 1, 1], dtype=bool)
    tp, fp, fn = 2, 1, 2
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert detection_scores(flags, labels) == pytest.approx(
        {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}
    )
    assert detection_scores(np.zeros(6, bool), labels) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def naive(cleaned, t):
    return cleaned[:, t - 1]


def test_online_detection_imputes_flagged_points():
    series = np.array([0.0, 0, 0, 10, 0, 0, 0])
    scores, flags = detect_and_impute(series, np.arange(1, 7), naive, [5.0, np.inf])
    # threshold 5: the spike is flagged and replaced by 0, so the point after it is forecast from 0, not 10
    np.testing.assert_array_equal(flags[0], [False, False, True, False, False, False])
    np.testing.assert_array_equal(scores[0], [0, 0, 10, 0, 0, 0])
    # threshold inf: nothing replaced, the spike also inflates the next error (the plain residual detector)
    np.testing.assert_array_equal(scores[1], [0, 0, 10, 10, 0, 0])
    assert not flags[1].any()


def test_online_detection_accepts_a_change_longer_than_max_run():
    series = np.array([0.0, 0, 8, 8, 8, 8, 8, 8])
    _, flags = detect_and_impute(series, np.arange(1, 8), naive, [5.0], max_run=3)
    # flagged for 3 points, then the level is accepted; from there the naive forecast follows it
    np.testing.assert_array_equal(flags[0], [False, True, True, True, False, False, False])


def test_detection_threshold_calibration_by_f1_and_quantile():
    rng = np.random.default_rng(0)
    series = rng.normal(0, 1, 300).cumsum()
    injected = inject_anomalies(series, seed=1, spikes=6, level_shifts=0, dropouts=0, spike_size=8.0, start=50)
    rows = np.arange(50, 300)
    labels = injected.labels[rows]
    threshold = calibrate_detection_threshold(injected.values, rows, labels, naive, method="f1")
    _, flags = detect_and_impute(injected.values, rows, naive, [threshold])
    assert detection_scores(flags[0], labels)["f1"] == 1.0  # 8σ spikes on a random walk are separable
    plain, _ = detect_and_impute(injected.values, rows, naive, [np.inf])
    q = calibrate_detection_threshold(injected.values, rows, labels, naive, method="quantile", quantile=0.9)
    assert q == pytest.approx(np.quantile(plain[0], 0.9))
