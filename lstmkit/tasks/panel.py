"""Forecasting many series with one global network (:class:`PanelForecastTask`), scored per series and overall.

Batches ``(x, future, y, series)`` from :class:`lstmkit.data.panel.PanelForecastDataModule`. Training and the
losses are those of :class:`~lstmkit.tasks.forecasting.ForecastTask`; at test the LSTM and the baselines (naive,
seasonal naive, SARIMAX fitted per series on its training rows) forecast the same test windows of every series.
Metrics: per series ``mae, rmse, mase, smape`` (``test/series/<id>/<model>/<metric>``), and overall: every error
pooled for MAE, RMSE, sMAPE (``test/<metric>``, ``test/<baseline>/<metric>``) and the mean of the per-series MASE
(each series scaled by its own in-sample seasonal-naive error, so large series do not dominate).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import hydra
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict
from scipy.stats import norm

from lstmkit.forecast.baselines import SarimaxForecaster, naive_forecast, seasonal_naive_forecast
from lstmkit.forecast.metrics import forecast_metrics, interval_coverage, pinball_loss
from lstmkit.tasks.forecasting import ForecastTask, forecast_figure

PER_SERIES = ("mae", "rmse", "mase", "smape")
SIZES = {"input_size": 1, "future_size": 0}  # network arguments that may come from the data, with placeholders


class PanelForecastTask(ForecastTask):
    """:class:`ForecastTask` over the pooled windows of many series.

    ``net.input_size`` and ``net.future_size`` may be ``null``: they are then set from the data
    (``1 + len(past_covariates)``, ``2 · len(calendar)``) and stored in the checkpoint.

    Args:
        media_series: forecast figures for at most this many series.
        **forecast_args: see :class:`ForecastTask`.
    """

    def __init__(self, *, net: MutableMapping | torch.nn.Module, media_series: int = 3, **forecast_args: Any) -> None:
        from_data = []
        with open_dict(net) if isinstance(net, DictConfig) else nullcontext():
            for argument, placeholder in SIZES.items() if not isinstance(net, torch.nn.Module) else ():
                if net.get(argument) is None:
                    net[argument], from_data = placeholder, [*from_data, argument]
        super().__init__(net=net, **forecast_args)
        self._sizes_from_data = from_data
        self.per_series: dict[str, dict[str, dict[str, float]]] = {}

    def setup(self, stage: str) -> None:
        dm = self.datamodule
        if self._sizes_from_data:
            self.hparams.net.update({"input_size": dm.input_size, "future_size": dm.future_size})
            self.net = hydra.utils.instantiate(self.hparams.net)
            self._sizes_from_data = []
        super().setup(stage)

    def _series_forecasts(self, s: int, origins: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """``{baseline: (mean (N, H), std or None)}`` of series ``s`` from its test ``origins``."""
        dm, horizon = self.datamodule, self.datamodule.horizon
        series, fit_end = dm.target_series[s], dm.fit_ends[s]
        forecasts = {"naive": (naive_forecast(series, origins, horizon), None)}
        if dm.season > 1 and origins.min() >= dm.season:
            forecasts["seasonal_naive"] = (seasonal_naive_forecast(series, origins, horizon, dm.season), None)
        if self.hparams.classical and not self.trainer.fast_dev_run:
            model = SarimaxForecaster(**self.hparams.classical).fit(series, fit_end=fit_end)
            forecasts["sarimax"] = model.forecast(series, origins, horizon)
        return forecasts

    def score_test(self) -> dict[str, dict[str, float]]:
        """Overall metrics per model (also sets :attr:`per_series`)."""
        dm = self.datamodule
        forecasts = torch.cat(self._forecasts["test"]).double().numpy()  # (N, H, outputs)
        windows, owner = dm.windows["test"], dm.window_series["test"][: len(forecasts)]
        actual = dm.actuals("test")[: len(forecasts)]
        pooled: dict[str, list] = {}  # model -> [(mean, std, actual, mase)]
        self.per_series, self._baseline_paths = {}, {}
        for s in np.unique(owner):
            rows = np.flatnonzero(owner == s)
            train = dm.target_series[s][: dm.fit_ends[s]]
            models = {"lstm": (forecasts[rows, :, self.point_index], None),
                      **self._series_forecasts(s, windows.origins[rows])}
            table = {}
            for name, (mean, std) in models.items():
                metrics = forecast_metrics(mean, actual[rows], train, dm.season)
                table[name] = {m: metrics[m] for m in PER_SERIES}
                pooled.setdefault(name, []).append((mean, std, actual[rows], metrics["mase"]))
            self.per_series[dm.ids[s]] = table
            self._baseline_paths[int(s)] = {name: mean for name, (mean, _) in models.items() if name != "lstm"}
        overall = {}
        for name, parts in pooled.items():
            mean, actual_all = np.concatenate([p[0] for p in parts]), np.concatenate([p[2] for p in parts])
            metrics = forecast_metrics(mean, actual_all)
            overall[name] = {**metrics, "mase": float(np.mean([p[3] for p in parts]))}
        if self.hparams.loss == "quantile":
            levels = np.asarray(self.hparams.quantiles)
            overall["lstm"]["coverage"] = interval_coverage(forecasts[..., 0], forecasts[..., -1], actual)
            overall["lstm"]["pinball"] = pinball_loss(forecasts, actual, levels)
            if "sarimax" in pooled:
                mean = np.concatenate([p[0] for p in pooled["sarimax"]])
                std = np.concatenate([p[1] for p in pooled["sarimax"]])
                actual_all = np.concatenate([p[2] for p in pooled["sarimax"]])
                bounds = mean[..., None] + std[..., None] * norm.ppf(levels)
                overall["sarimax"]["coverage"] = interval_coverage(bounds[..., 0], bounds[..., -1], actual_all)
                overall["sarimax"]["pinball"] = pinball_loss(bounds, actual_all, levels)
        return overall

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        for key, table in self.per_series.items():
            for name, metrics in table.items():
                for metric, value in metrics.items():
                    self.log(f"test/series/{key}/{name}/{metric}", value)
        if self.per_series:
            print_series_table(self.per_series)

    def log_media(self, stage: str) -> None:
        if not self._forecasts[stage]:
            return
        dm = self.datamodule
        forecasts = torch.cat(self._forecasts[stage]).double().numpy()
        owner = dm.window_series[stage][: len(forecasts)]
        for s in np.unique(owner)[: self.hparams.media_series]:
            rows = np.flatnonzero(owner == s)
            view = SimpleNamespace(horizon=dm.horizon, input_length=dm.input_length, index=dm.index[s],
                                   target_series=dm.target_series[s], series=f"{dm.series}, series {dm.ids[s]!r}")
            baselines = self._baseline_paths.get(int(s), {}) if stage == "test" else {}
            figure = forecast_figure(view, dm.windows[stage].origins[rows], forecasts[rows], self.point_index,
                                     baselines, self.hparams.media_points)
            self.log_figure(f"{stage}/forecast_vs_actual/{dm.ids[s]}", figure)


@rank_zero_only
def print_series_table(per_series: dict[str, dict[str, dict[str, float]]], limit: int = 20) -> None:
    """MASE and MAE of every model, one row per series (the first ``limit`` series)."""
    from rich.console import Console
    from rich.table import Table

    models = list(next(iter(per_series.values())))
    out = Table(title=f"test forecasts per series (first {min(limit, len(per_series))} of {len(per_series)})",
                header_style="bold")
    out.add_column("series")
    for metric in ("mase", "mae"):
        for model in models:
            out.add_column(f"{metric} {model}", justify="right")
    for key, table in list(per_series.items())[:limit]:
        out.add_row(key, *(f"{table[m][metric]:.4g}" if m in table else ""
                           for metric in ("mase", "mae") for m in models))
    Console(width=max(120, Console().width)).print(out)
