"""Forecasting data module, network and task: prepared batches against the raw series, the network's two
strategies, and short real trainings (sine regression to MSE < 1e-3; quantile forecasts with baselines and a
TensorBoard figure; cross-validation folds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
import torch
from helpers import QUIET, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lstmkit.cross_validate import cross_validate
from lstmkit.data.forecasting import ForecastDataModule
from lstmkit.models.forecasting import LSTMForecaster
from lstmkit.train import run


def test_co2_batches_are_gap_filled_scaled_on_train_rows_and_invert():
    dm = ForecastDataModule(series="co2", input_length=8, horizon=4, val_fraction=0.1, test_fraction=0.2)
    dm.setup()
    raw = sm.datasets.co2.load_pandas().data["co2"]
    n = len(raw)
    val_start = n - round(0.2 * n) - round(0.1 * n)
    filled = raw.interpolate(method="time", limit_area="inside").to_numpy()
    np.testing.assert_allclose(dm.target_series, filled)
    assert not np.isnan(dm.target_series).any() and np.isnan(raw.to_numpy()).sum() == 59
    mean, std = filled[:val_start].mean(), filled[:val_start].std()  # training rows only
    x, future, y = dm.datasets["test"][:]
    origins = dm.windows["test"].origins
    assert x.shape == (len(origins), 8, 1) and future.shape == (len(origins), 4, 0) and y.shape == (len(origins), 4)
    np.testing.assert_allclose(y.numpy(), (filled[origins[:, None] + np.arange(4)] - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(x[:, -1, 0].numpy(), (filled[origins - 1] - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(dm.inverse_transform(y).numpy(), dm.actuals("test"), rtol=1e-6)
    assert dm.windows["train"].origins.max() + 4 <= val_start


def test_macro_covariates_and_calendar_features_reach_the_batches():
    dm = ForecastDataModule(
        series="macro",
        target="gdp_growth",
        past_covariates=["infl", "unemp"],
        calendar=["quarter"],
        input_length=6,
        horizon=2,
        fill=None,
        clip="zscore",
    )
    dm.setup()
    x, future, y = dm.datasets["train"][:]
    assert (dm.input_size, dm.future_size) == (3, 2)
    assert x.shape[1:] == (6, 3) and future.shape[1:] == (2, 2)
    quarter = np.asarray(dm.index.quarter)[dm.windows["train"].origins]
    np.testing.assert_allclose(future[:, 0, 0].numpy(), np.sin(2 * np.pi * quarter / 4), atol=1e-6)


def test_autoregressive_teacher_forcing_with_its_own_forecasts_reproduces_the_rollout():
    torch.manual_seed(0)
    net = LSTMForecaster(hidden_size=8, num_layers=2, horizon=5, strategy="autoregressive", backend="reference").eval()
    x = torch.randn(3, 7, 1)
    rollout = net(x)  # (3, 5, 1), each step fed the previous forecast
    teacher_forced = net(x, target=rollout[..., 0])  # one pass over inputs followed by the forecasts
    torch.testing.assert_close(teacher_forced, rollout, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_relative_model_is_level_free(strategy):
    torch.manual_seed(0)
    net = LSTMForecaster(hidden_size=8, horizon=3, outputs=2, strategy=strategy, relative=True).eval()
    x = torch.randn(4, 6, 1)
    torch.testing.assert_close(net(x + 5.0), net(x) + 5.0, rtol=1e-5, atol=1e-5)


def test_autoregressive_needs_target_only_inputs():
    with pytest.raises(ValueError, match="input_size=1, future_size=0"):
        LSTMForecaster(input_size=3, strategy="autoregressive")


@pytest.mark.slow
def test_sine_regression_reaches_mse_below_1e_3(tmp_path):
    cfg = compose_config(
        "train",
        ["experiment=sine_regression", *QUIET, "logger=csv", "trainer.max_epochs=8", "model.classical=null"],
        tmp_path,
    )
    run(cfg)
    test = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert test["test/mse"] < 1e-3
    assert test["test/mae"] < test["test/naive/mae"] and test["test/mae"] < test["test/seasonal_naive/mae"]


@pytest.mark.slow
def test_quantile_forecasts_with_baselines_and_figure(tmp_path):
    overrides = ["experiment=forecast_sunspots_quantile", *QUIET, "trainer.max_epochs=3", "model.net.hidden_size=16"]
    run(compose_config("train", overrides, tmp_path))
    test = json.loads((tmp_path / "metrics.json").read_text())["test"]
    for name in ("naive", "seasonal_naive", "sarimax"):
        assert {f"test/{name}/mae", f"test/{name}/mase"} <= set(test)
    assert 0 <= test["test/coverage"] <= 1 and test["test/pinball"] > 0 and "test/sarimax/coverage" in test
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert "test/forecast_vs_actual" in events.Tags()["images"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rolling", "kfold"])
def test_cross_validation_folds(kind, tmp_path):
    overrides = [
        "experiment=sine_regression",
        *QUIET,
        "logger=csv",
        f"cv.kind={kind}",
        "cv.folds=2",
        "trainer.max_epochs=1",
        "model.classical=null",
        "model.net.hidden_size=8",
    ]
    cross_validate(compose_config("cross_validate", overrides, tmp_path))
    result = json.loads((tmp_path / "cv.json").read_text())
    assert len(result["folds"]) == 2 and "test/mae" in result["summary"]
    assert result["summary"]["test/mae"]["mean"] == pytest.approx(np.mean([f["test/mae"] for f in result["folds"]]))
