"""Forecasting on a user's file (experiment=forecast_csv) and predictions past its end (lstmkit.predict): files are
built in tmp_path, results checked against pandas/numpy computed here."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest
from own_data import long_file, predict_cfg, trained_run

from lstmkit import predict
from lstmkit.data.panel import PanelForecastDataModule, season_of


class Collect(logging.Handler):
    """Keeps the messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory):
    """One short training on a 3-series file with a covariate, calendar features, a missing timestamp and a
    missing value in series ``b``: (folder, file, frame, metrics.json, the log text)."""
    tmp_path = tmp_path_factory.mktemp("panel")
    file, frame = long_file(tmp_path)
    logger, handler = logging.getLogger("lstmkit.data"), Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        _, metrics = trained_run(tmp_path, file, ["data.past_covariates=[promo]", "data.calendar=[month]"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return tmp_path, file, frame, metrics, "\n".join(handler.messages)


def test_train_then_predict_past_the_end(panel_run):
    tmp_path, file, frame, metrics, log = panel_run
    assert "series 'b': 1 missing timestamp(s) inserted" in log
    assert "series 'b': {'y': 2, 'promo': 1} missing value(s) filled (interpolate)" in log  # the NaN and the gap
    test = metrics["test"]
    for key in "abc":
        for model in ("lstm", "naive", "seasonal_naive"):
            assert {f"test/series/{key}/{model}/{m}" for m in ("mae", "rmse", "mase", "smape")} <= set(test)
    assert {"test/mae", "test/naive/mae", "test/seasonal_naive/mase", "test/mase", "test/smape"} <= set(test)

    result = predict.run(predict_cfg(tmp_path, metrics["best_checkpoint"], file))
    written = pd.read_csv(tmp_path / "forecast.csv", parse_dates=["ds"])
    assert len(written) == 3 * 3 and list(written.columns) == ["unique_id", "ds", "y_hat"]
    for key in "abc":
        last = pd.Timestamp(frame.loc[frame.unique_id == key, "ds"].max())
        expected = pd.date_range(last, periods=4, freq="MS")[1:]
        assert list(written.loc[written.unique_id == key, "ds"]) == list(expected)
    assert np.isfinite(result["y_hat"]).all()
    assert (tmp_path / "forecast.png").stat().st_size > 0


def test_per_series_naive_metrics_match_a_hand_computation(panel_run):
    _, _, frame, metrics, _ = panel_run
    for key in "ac":  # the series without gaps
        y = frame.loc[frame.unique_id == key, "y"].to_numpy()
        origins = np.arange(len(y) - 6, len(y) - 3 + 1)  # test steps: the last 6; windows of 3 inside them
        errors = np.abs(y[origins[:, None] + np.arange(3)] - y[origins - 1, None])
        assert metrics["test"][f"test/series/{key}/naive/mae"] == pytest.approx(errors.mean(), rel=1e-6)
        train = y[: len(y) - 12]
        scale = np.abs(train[12:] - train[:-12]).mean()
        assert metrics["test"][f"test/series/{key}/naive/mase"] == pytest.approx(errors.mean() / scale, rel=1e-6)


def test_predict_refuses_data_that_does_not_match(panel_run):
    tmp_path, _, frame, metrics, _ = panel_run
    ckpt = metrics["best_checkpoint"]
    weekly = np.concatenate([pd.date_range("2015-01-05", periods=int((frame.unique_id == k).sum()), freq="W-MON")
                             for k in "abc"])
    cases = {
        "no_promo.csv": (frame.drop(columns="promo"), KeyError, r"column\(s\) \['promo'\] not found"),
        "new_series.csv": (frame.replace({"unique_id": {"c": "z"}}), ValueError,
                           r"series \['z'\] were not in the training file; the model knows \['a', 'b', 'c'\]"),
        "weekly.csv": (frame.assign(ds=weekly), ValueError,
                       r"the series have frequency 'W-MON', the model was trained on 'MS'"),
        "short.csv": (frame.groupby("unique_id").tail(4), ValueError,
                      r"series 'a' has 4 time steps; the model reads the last input_length = 6"),
    }
    for name, (bad, error, message) in cases.items():
        bad.to_csv(tmp_path / name, index=False)
        with pytest.raises(error, match=message):
            predict.run(predict_cfg(tmp_path, ckpt, tmp_path / name))
    with pytest.raises(FileNotFoundError, match=re.escape("ckpt_path: no checkpoint file at")):
        predict.run(predict_cfg(tmp_path, tmp_path / "none.ckpt", tmp_path / "short.csv"))


def test_scalers_are_fitted_per_series_on_its_training_steps(tmp_path):
    file, frame = long_file(tmp_path, gap=False)
    dm = PanelForecastDataModule(path=str(file), past_covariates=["promo"], input_length=6, horizon=3, val_size=6,
                                 test_size=6)
    dm.setup()
    assert dm.ids == ["a", "b", "c"] and dm.frequency == "MS" and dm.season == 12
    x, _, y, series = dm.datasets["train"].tensors
    for s, key in enumerate("abc"):
        part = frame[frame.unique_id == key]
        train = part.iloc[: len(part) - 12]
        first = int(np.flatnonzero(series.numpy() == s)[0])
        for column, feature in (("y", 0), ("promo", 1)):
            expected = (part[column].to_numpy()[:6] - train[column].mean()) / train[column].std(ddof=0)
            np.testing.assert_allclose(x[first, :, feature].numpy(), expected, rtol=1e-5, atol=1e-6)
        # scaled targets invert to the series' own values
        original = dm.inverse_transform(y[first : first + 1], series[first : first + 1]).numpy()[0]
        np.testing.assert_allclose(original, part["y"].to_numpy()[6:9], rtol=1e-5)


def test_wide_file_and_file_without_id_column(tmp_path, caplog):
    _, frame = long_file(tmp_path, lengths=(40, 40, 40), gap=False)
    frame["ds"] = pd.to_datetime(frame["ds"])
    wide = frame.assign(ds=frame.groupby("unique_id").cumcount()).pivot(index="ds", columns="unique_id", values="y")
    wide.index = pd.date_range("2015-01-01", periods=40, freq="W-MON")
    wide.iloc[:3, 2] = np.nan  # series c starts three weeks later
    wide.rename_axis("week").reset_index().to_csv(tmp_path / "wide.csv", index=False)
    dm = PanelForecastDataModule(path=str(tmp_path / "wide.csv"), format="wide", time_column="week", input_length=6,
                                 horizon=2, val_size=4, test_size=4)
    with caplog.at_level(logging.INFO, logger="lstmkit.data"):
        dm.setup()
    assert "3 empty cell(s) of the wide table left out ({'c': 3})" in caplog.text
    assert dm.ids == ["a", "b", "c"] and dm.frequency == "W-MON" and dm.season == 52
    np.testing.assert_allclose(dm.target_series[1], wide["b"].to_numpy())
    assert dm.index[2][0] == wide.index[3] and len(dm.target_series[2]) == 37

    one = frame[frame.unique_id == "a"].drop(columns="unique_id").rename(columns={"ds": "month", "y": "sales"})
    one.to_parquet(tmp_path / "one.parquet")
    dm = PanelForecastDataModule(path=str(tmp_path / "one.parquet"), time_column="month", target="sales",
                                 input_length=6, horizon=2, val_size=4, test_size=4)
    dm.setup()
    assert dm.ids == ["sales"] and len(dm.windows["test"]) == 3


def test_quantile_model_predicts_ordered_quantiles_with_integer_times(tmp_path):
    years = np.arange(1900, 1960)
    values = 50 + 20 * np.sin(years / 3.0)
    pd.DataFrame({"year": years, "value": values}).to_csv(tmp_path / "yearly.csv", index=False)
    _, metrics = trained_run(tmp_path, tmp_path / "yearly.csv", [
        "data.time_column=year", "data.target=value", "model.loss=quantile", "model.quantiles=[0.1,0.5,0.9]",
        "model.net.outputs=3", "model.net.feedback_index=1", "data.season=11",
        "model.classical={order: [1, 0, 0], trend: c}"])
    assert {"test/coverage", "test/sarimax/coverage", "test/sarimax/mase", "test/series/value/sarimax/mae"} <= set(
        metrics["test"])
    result = predict.run(predict_cfg(tmp_path, metrics["best_checkpoint"], tmp_path / "yearly.csv"))
    assert list(result.columns) == ["unique_id", "ds", "y_hat", "y_hat_q10", "y_hat_q50", "y_hat_q90"]
    assert list(result["ds"]) == [1960, 1961, 1962]
    assert (result["y_hat_q10"] <= result["y_hat_q50"]).all() and (result["y_hat_q50"] <= result["y_hat_q90"]).all()
    np.testing.assert_allclose(result["y_hat"], result["y_hat_q50"])


def test_season_from_frequency():
    assert [season_of(f) for f in ("MS", "ME", "QS-OCT", "W-SUN", "D", "h", "YS-JAN", 1)] == [12, 12, 4, 52, 7, 24,
                                                                                                1, 1]
