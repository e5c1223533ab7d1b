"""Anomaly injection on a real series (Nile volumes): reproducible, labelled, disjoint. Scoring against numpy by
hand (robust z-scores, the windowed median), F1 and PR-AUC against hand counts, and the whole detector on a
synthetic series whose injected anomalies are obvious."""

import runpy
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from lstmkit.forecast.anomaly import (
    calibrate_threshold,
    detection_scores,
    inject_anomalies,
    pr_auc,
    robust_online_scores,
    smoothed_score,
)

NORMAL_MAD = 1.482602218505602  # 1 / Phi^-1(3/4)


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
        nile, seed=0, spikes=4, level_shifts=2, dropouts=1, variance_changes=1, shift_length=6, dropout_length=3,
        variance_length=5, start=20, min_gap=3,
    )
    scale = np.std(np.diff(nile[20:]))  # the documented default scale
    kinds = sorted(a.kind for a in result.anomalies)
    assert kinds == ["dropout"] + ["level_shift"] * 2 + ["spike"] * 4 + ["variance_change"]
    assert result.labels.sum() == 4 * 1 + 2 * 6 + 1 * 3 + 1 * 5
    assert not result.labels[:20].any()
    np.testing.assert_array_equal(result.values[~result.labels], nile[~result.labels])  # clean points untouched
    for anomaly in result.anomalies:
        segment = slice(anomaly.start, anomaly.start + anomaly.length)
        assert result.labels[segment].all()
        if anomaly.kind == "dropout":
            np.testing.assert_array_equal(result.values[segment], 0.0)
        elif anomaly.kind == "variance_change":
            assert anomaly.value == pytest.approx(2.0 * scale)
            assert np.all(result.values[segment] != nile[segment])
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


def test_variance_change_adds_zero_mean_noise_of_the_given_std():
    series = np.linspace(0.0, 10.0, 3000)  # first differences all equal: scale given explicitly
    result = inject_anomalies(
        series, seed=3, spikes=0, level_shifts=0, dropouts=0, variance_changes=1, variance_size=1.5,
        variance_length=2000, scale=0.2,
    )
    (anomaly,) = result.anomalies
    added = (result.values - series)[anomaly.start : anomaly.start + 2000]
    assert anomaly.kind == "variance_change" and anomaly.value == pytest.approx(0.3)
    assert np.std(added) == pytest.approx(0.3, rel=0.05) and abs(np.mean(added)) < 0.03
    assert result.labels.sum() == 2000 and np.array_equal(result.values[~result.labels], series[~result.labels])


def test_pr_auc_by_hand_and_bad_input():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 0, 0], dtype=bool)
    # ranked by score: hits at ranks 1 and 3 -> precision 1 at recall 1/2, 2/3 at recall 1
    assert pr_auc(scores, labels) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert pr_auc(-scores, labels) == pytest.approx(0.5 * 1 / 3 + 0.5 * 2 / 5)  # hits at ranks 3 and 5
    with pytest.raises(ValueError, match="labels: need at least one anomaly"):
        pr_auc(scores, np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match="scores: expected finite values, got 1 NaN"):
        pr_auc([0.1, np.nan, 0.3, 0.2, 0.5], labels)
    with pytest.raises(ValueError, match="same length, got 4 and 5"):
        pr_auc(scores[:4], labels)


def naive(cleaned, t):
    return cleaned[:, t - 1]


def test_robust_z_scores_match_numpy_by_hand():
    rng = np.random.default_rng(0)
    series = rng.standard_t(3, 200).cumsum()  # heavy-tailed steps: MAD and std differ
    window = 30
    z, spread, cleaned = robust_online_scores(series, np.arange(1, 200), naive, window=window, clean_at=np.inf)
    errors = np.diff(series)  # naive one-step errors of rows 1..199
    expected, expected_spread = np.full(199, np.nan), np.full(199, np.nan)
    for j in range(window, 199):
        past = errors[j - window : j]
        centre = np.median(past)
        expected_spread[j] = NORMAL_MAD * np.median(np.abs(past - centre))
        expected[j] = abs(errors[j] - centre) / expected_spread[j]
    np.testing.assert_allclose(z, expected, rtol=1e-12)
    np.testing.assert_allclose(spread, expected_spread, rtol=1e-12)
    np.testing.assert_array_equal(cleaned, series)  # clean_at=inf replaces nothing


def test_extreme_points_are_replaced_and_kept_out_of_the_spread():
    rng = np.random.default_rng(1)
    series = rng.normal(0.0, 1.0, 120).cumsum()
    spiked = series.copy()
    spiked[80] += 30.0
    rows = np.arange(1, 120)
    z, _, cleaned = robust_online_scores(spiked, rows, naive, window=40, clean_at=5.0)
    plain, _, _ = robust_online_scores(spiked, rows, naive, window=40, clean_at=np.inf)
    steps = np.diff(series)  # steps[k]: the naive error of row k + 1
    # replaced by its forecast plus the median of the 40 errors accepted before it (rows 40..79)
    assert cleaned[80] == pytest.approx(series[79] + np.median(steps[39:79]))
    np.testing.assert_array_equal(np.delete(cleaned, 80), np.delete(spiked, 80))
    assert z[79] > 10 and plain[79] > 10  # the spike itself
    assert z[80] < 4 < plain[80]  # its successor: forecast from the replaced value, not from the spike
def test_a_change_longer_than_max_run_becomes_the_new_normal():
    series = np.concatenate([np.tile([0.0, 1.0], 30), np.full(10, 50.0), np.tile([50.0, 51.0], 10)])
    z, _, cleaned = robust_online_scores(series, np.arange(1, len(series)), naive, window=20, clean_at=5.0, max_run=3)
    shift = np.arange(60, 70)  # the first 10 points at the new level
    assert (z[shift[:4] - 1] > 5).all()  # replaced three times, then the 4th is accepted though still extreme
    np.testing.assert_array_equal(cleaned[60:63], 1.0 + np.median(np.tile([1.0, -1.0], 10)))  # last level + 0
    np.testing.assert_array_equal(cleaned[63:], series[63:])
    assert (z[shift[4:] - 1] < 1).all()  # forecast from the accepted level: ordinary errors again


def test_smoothed_score_matches_a_numpy_window_by_hand():
    rng = np.random.default_rng(2)
    z = np.abs(rng.normal(size=40))
    z[:3] = np.nan
    z[20] = 9.0
    smoothed = smoothed_score(z, width=5, gain=2.0)
    expected = [max(z[j], 2.0 * np.nanmedian(z[max(j - 2, 0) : j + 3])) for j in range(3, 40)]
    np.testing.assert_allclose(smoothed[3:], expected, rtol=1e-12)
    assert np.isnan(smoothed[:3]).all()
    assert smoothed[20] == 9.0 and smoothed[19] < 9.0  # an isolated spike does not spread to its neighbours
    np.testing.assert_array_equal(smoothed_score(z, width=1, gain=0.0)[3:], z[3:])
    with pytest.raises(ValueError, match="width: expected an odd number >= 1, got 4"):
        smoothed_score(z, width=4)


def test_detector_finds_obvious_injected_anomalies_and_a_better_forecaster_scores_better():
    rng = np.random.default_rng(0)
    t = np.arange(1400)
    signal = 10 * np.sin(2 * np.pi * t / 50)
    series = signal + rng.normal(0.0, 0.3, len(t))
    injected = inject_anomalies(
        series, seed=4, spikes=8, level_shifts=2, variance_changes=2, dropouts=0, spike_size=8.0, shift_size=6.0,
        shift_length=10, variance_size=4.0, variance_length=15, start=400,
    )
    rows = np.arange(348, 1400)  # 52 clean warm-up rows, then validation 400..899 and test 900..1399
    val, test = slice(52, 552), slice(552, None)
    labels = injected.labels[rows]

    def oracle(cleaned, t):  # knows the seasonal signal: errors are the noise alone
        return cleaned[:, t - 1] - signal[t - 1] + signal[t]

    results = {}
    for name, forecast in {"oracle": oracle, "naive": naive}.items():
        z, _, _ = robust_online_scores(injected.values, rows, forecast, window=52, clean_at=4.0, max_run=10)
        score = smoothed_score(z)
        threshold = calibrate_threshold(score[val], labels[val])
        results[name] = {**detection_scores(score[test] >= threshold, labels[test]),
                         "pr_auc": pr_auc(score[test], labels[test])}
        if name == "oracle":
            flagged = rows[test][score[test] >= threshold]
            for anomaly in (a for a in injected.anomalies if a.start >= 900):
                assert np.isin(np.arange(anomaly.start, anomaly.start + anomaly.length), flagged).any(), anomaly
    assert results["oracle"]["f1"] > 0.8 and results["oracle"]["pr_auc"] > 0.8
    assert results["oracle"]["pr_auc"] > results["naive"]["pr_auc"]


def test_repeats_table_gives_per_seed_rows_and_mean_sd_by_hand():
    module = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "repeats_table.py"))
    runs = [
        {"seed": 1, "test": {"test/f1": 0.5, "test/pr_auc": 0.6, "test/naive/f1": 0.4, "test/naive/pr_auc": 0.3,
                             "test/sarimax/mae": 1.0}},
        {"seed": 2, "test": {"test/f1": 0.7, "test/pr_auc": 0.8, "test/naive/f1": 0.2, "test/naive/pr_auc": 0.5,
                             "test/sarimax/mae": 2.0}},
    ]
    rows = module["repeats_table"]({"repeats": runs}, ["f1", "pr_auc"])
    assert rows[:4] == [["1", "lstm", "0.500", "0.600"], ["1", "naive", "0.400", "0.300"],
                        ["2", "lstm", "0.700", "0.800"], ["2", "naive", "0.200", "0.500"]]
    sd = np.std([0.5, 0.7], ddof=1)  # sample sd; the same for every column here
    assert rows[4] == ["mean ± sd (2 seeds)", "lstm", f"0.600 ± {sd:.3f}", f"0.700 ± {sd:.3f}"]
    assert rows[5] == ["mean ± sd (2 seeds)", "naive", f"0.300 ± {sd:.3f}", f"0.400 ± {sd:.3f}"]
    with pytest.raises(ValueError, match="no 'repeats' list"):
        module["repeats_table"]({"test": {}}, ["f1"])
    with pytest.raises(KeyError, match="lstm: metrics \\['recall'\\] not logged"):
        module["repeats_table"]({"repeats": runs}, ["f1", "recall"])


@pytest.mark.slow
def test_anomaly_experiment_scores_every_detector_on_the_test_weeks(tmp_path):
    import json

    from helpers import QUIET, compose_config

    from lstmkit.train import run

    overrides = ["experiment=anomaly_co2", *QUIET, "logger=csv", "trainer.max_epochs=1", "model.net.hidden_size=8",
                 "model.classical=null"]
    run(compose_config("train", overrides, tmp_path))
    test = json.loads((tmp_path / "metrics.json").read_text())["test"]
    for prefix in ("test/", "test/naive/", "test/seasonal_naive/"):
        for metric in ("precision", "recall", "f1", "pr_auc", "event_recall", "recall_spike"):
            assert 0.0 <= test[prefix + metric] <= 1.0, prefix + metric
        assert test[prefix + "spread"] > 0 and test[prefix + "threshold"] > 0
        precision, recall = test[prefix + "precision"], test[prefix + "recall"]
        assert test[prefix + "f1"] == pytest.approx(2 * precision * recall / (precision + recall), rel=1e-5)
