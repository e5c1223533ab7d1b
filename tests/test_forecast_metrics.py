"""Forecast metrics against numpy formulas written here."""

import numpy as np
import pytest

from lstmkit.forecast.metrics import forecast_metrics, interval_coverage, mase, pinball_loss

PRED = np.array([[1.0, 2.0], [3.0, 5.0]])
TARGET = np.array([[2.0, 2.0], [4.0, 3.0]])


def test_point_metrics_by_hand():
    error = (PRED - TARGET).ravel()  # -1 0 -1 2
    y = TARGET.ravel()
    metrics = forecast_metrics(PRED, TARGET, train_series=[1.0, 3.0, 2.0, 6.0], season=1)
    assert metrics["mse"] == pytest.approx(6 / 4)
    assert metrics["rmse"] == pytest.approx(np.sqrt(6 / 4))
    assert metrics["mae"] == pytest.approx(4 / 4)
    assert metrics["mape"] == pytest.approx(np.mean(np.abs(error) / y))
    assert metrics["smape"] == pytest.approx(np.mean(2 * np.abs(error) / (np.abs(y) + np.abs(PRED.ravel()))))
    assert metrics["r2"] == pytest.approx(1 - np.sum(error**2) / np.sum((y - y.mean()) ** 2))
    assert metrics["mase"] == pytest.approx(1.0 / np.mean([2.0, 1.0, 4.0]))  # naive in-sample MAE = 7/3


def test_seasonal_mase_scale():
    train = np.array([1.0, 2.0, 4.0, 3.0, 7.0])  # season 2 differences: 3, 1, 3
    assert mase(PRED, TARGET, train, season=2) == pytest.approx(1.0 / (7 / 3))


def test_pinball_loss_by_hand():
    quantiles = [0.1, 0.5, 0.9]
    preds = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])  # (N=2, Q=3)
    target = np.array([1.5, 0.0])
    losses = [
        [0.1 * 1.5, 0.5 * 0.5, (0.9 - 1) * -0.5],  # y above, above, below its quantile forecast
        [(0.1 - 1) * -1, (0.5 - 1) * -1, (0.9 - 1) * -1],
    ]
    assert pinball_loss(preds, target, quantiles) == pytest.approx(np.mean(losses))


def test_interval_coverage_counts_closed_intervals():
    assert interval_coverage([0, 0, 0, 0], [1, 1, 1, 1], [0.0, 1.0, 1.5, -0.1]) == 0.5
