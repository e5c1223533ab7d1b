"""Forecasting task: an LSTM forecaster trained on scaled windows, scored in original units next to baselines.

Batches ``(x, future, y)`` come from :class:`lstmkit.data.forecasting.ForecastDataModule`. The loss (``mse``,
``mae`` or ``quantile``) is computed on scaled values; metrics are in the series' units. At the end of testing the
LSTM's test forecasts and the baselines' (naive, seasonal naive, SARIMAX; :mod:`lstmkit.forecast.baselines`) on the
same windows are scored with :func:`lstmkit.forecast.metrics.forecast_metrics`, logged as ``test/<model>/<metric>``,
printed as one table, and a forecast-vs-actual figure with the prediction interval goes to TensorBoard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor
from torchmetrics import (
    MeanAbsoluteError,
    MeanSquaredError,
    MetricCollection,
    R2Score,
    SymmetricMeanAbsolutePercentageError,
)

from lstmkit.forecast.baselines import SarimaxForecaster, naive_forecast, seasonal_naive_forecast
from lstmkit.forecast.metrics import forecast_metrics, interval_coverage, pinball_loss, quantile_loss
from lstmkit.tasks.base import Task, new_figure

LOSSES = ("mse", "mae", "quantile")


class ForecastTask(Task):
    """Point or quantile forecasting with baselines in the same run.

    Args:
        loss: ``"mse"``, ``"mae"`` or ``"quantile"`` (pinball loss over ``quantiles``; the net then needs
            ``outputs = len(quantiles)``, and the median is the point forecast).
        quantiles: quantile levels, ascending; the outer two bound the prediction interval.
        classical: arguments of :class:`~lstmkit.forecast.baselines.SarimaxForecaster` (``order``,
            ``seasonal_order``, ``trend``, ``fourier_period``, ``fourier_order``), or ``None`` to skip it.
        media_points: at most this many forecast steps in the figure.
        **task_args: see :class:`lstmkit.tasks.base.Task` (``net``, ``optimizer``, ``scheduler``, …).
    """

    def __init__(
        self,
        *,
        loss: str = "mse",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        classical: Mapping[str, Any] | None = None,
        best_metric: str = "val/mae",
        media_points: int = 400,
        **task_args: Any,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
        if list(quantiles) != sorted(quantiles) or not all(0 < q < 1 for q in quantiles):
            raise ValueError(f"quantiles: expected ascending levels in (0, 1), got {list(quantiles)}")
        super().__init__(best_metric=best_metric, **task_args)
        outputs = len(quantiles) if loss == "quantile" else 1
        if getattr(self.net, "outputs", outputs) != outputs:
            raise ValueError(
                f"loss={loss!r} with quantiles={list(quantiles)} needs net.outputs={outputs}, got {self.net.outputs}"
            )
        self.register_buffer("levels", torch.tensor(list(quantiles), dtype=torch.float32), persistent=False)
        self.point_index = int(np.argmin(np.abs(np.asarray(quantiles) - 0.5))) if loss == "quantile" else 0
        self._forecasts: dict[str, list[Tensor]] = {"val": [], "test": []}
        self.comparison: dict[str, dict[str, float]] = {}
        self._sarimax: SarimaxForecaster | None = None
        self._baseline_paths: dict[str, np.ndarray] = {}  # test forecasts (N, horizon) of each baseline

    def make_metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "mse": MeanSquaredError(),
                "rmse": MeanSquaredError(squared=False),
                "mae": MeanAbsoluteError(),
                "smape": SymmetricMeanAbsolutePercentageError(),
                "r2": R2Score(),
            }
        )

    @property
    def datamodule(self):
        return self.trainer.datamodule

    def setup(self, stage: str) -> None:
        dm = self.datamodule
        expected = {"input_size": dm.input_size, "future_size": dm.future_size, "horizon": dm.horizon}
        found = {
            "input_size": self.net.lstm.input_size,
            "future_size": self.net.future_size,
            "horizon": self.net.horizon,
        }
        if found != expected:
            raise ValueError(f"the network's {found} do not fit the data's {expected}: set model.net accordingly")

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        x, future, y, *series = batch  # a many-series datamodule adds each window's series index (B,)
        out = self.net(x, future, y if self.training else None)  # (B, horizon, outputs), scaled
        if self.hparams.loss == "quantile":
            loss = quantile_loss(out, y, self.levels)
        else:
            loss = (F.mse_loss if self.hparams.loss == "mse" else F.l1_loss)(out[..., 0], y)
        forecast = self.datamodule.inverse_transform(out.detach(), *series)
        if not self.training:
            # quantile forecasts may cross; sorting restores their order without changing the loss
            self._forecasts["test" if self.trainer.testing else "val"].append(forecast.sort(dim=-1).values.cpu())
        target = self.datamodule.inverse_transform(y, *series)
        return loss, forecast[..., self.point_index].flatten(), target.flatten()

    def on_validation_epoch_start(self) -> None:
        self._forecasts["val"] = []

    def on_test_epoch_start(self) -> None:
        self._forecasts["test"], self._sarimax = [], None

    # ---- scoring against baselines --------------------------------------------------------------------
    @property
    def scores_baselines(self) -> bool:
        """Whether the data are windows of series (``target_series``), which baselines can forecast; windows given
        as plain arrays (:class:`lstmkit.data.arrays.ArrayDataModule`) get the task's metrics only."""
        return hasattr(self.datamodule, "target_series")

    def baseline_forecasts(self, origins: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """``{name: (mean (N, H), std (N, H) or None)}`` of the baselines from ``origins``, in original units."""
        dm = self.datamodule
        series, horizon = dm.target_series, dm.horizon
        forecasts = {"naive": (naive_forecast(series, origins, horizon), None)}
        if dm.season > 1 and origins.min() >= dm.season:  # every window has a season of history (not so in k-fold)
            forecasts["seasonal_naive"] = (seasonal_naive_forecast(series, origins, horizon, dm.season), None)
        # no SARIMAX under k-fold (no chronological training rows) nor in fast_dev_run (its fit takes seconds)
        if self.hparams.classical and dm.fit_end is not None and not self.trainer.fast_dev_run:
            if self._sarimax is None:  # fitted once per test run, on the training rows
                self._sarimax = SarimaxForecaster(**self.hparams.classical).fit(series, fit_end=dm.fit_end)
            forecasts["sarimax"] = self._sarimax.forecast(series, origins, horizon)
        return forecasts

    def score_test(self) -> dict[str, dict[str, float]]:
        """Metrics of the LSTM and every baseline on the test windows that were evaluated."""
        dm = self.datamodule
        forecasts = torch.cat(self._forecasts["test"]).double().numpy()  # (N, H, outputs)
        origins, actual = dm.windows["test"].origins[: len(forecasts)], dm.actuals("test")[: len(forecasts)]
        train = dm.target_series[: dm.fit_end]  # MASE scale: the whole series under k-fold (fit_end None)
        models = {"lstm": (forecasts[..., self.point_index], None), **self.baseline_forecasts(origins)}
        table = {name: forecast_metrics(mean, actual, train, dm.season) for name, (mean, _) in models.items()}
        if self.hparams.loss == "quantile":
            levels = np.asarray(self.hparams.quantiles)
            table["lstm"]["coverage"] = interval_coverage(forecasts[..., 0], forecasts[..., -1], actual)
            table["lstm"]["pinball"] = pinball_loss(forecasts, actual, levels)
            if "sarimax" in models:  # the same levels from SARIMAX's Gaussian forecast distribution
                mean, std = models["sarimax"]
                from scipy.stats import norm  # scipy.stats takes a second to import: only for quantile runs

                bounds = mean[..., None] + std[..., None] * norm.ppf(levels)
                table["sarimax"]["coverage"] = interval_coverage(bounds[..., 0], bounds[..., -1], actual)
                table["sarimax"]["pinball"] = pinball_loss(bounds, actual, levels)
        self._baseline_paths = {name: mean for name, (mean, _) in models.items() if name != "lstm"}
        return table

    def gather_test_forecasts(self) -> None:
        """Under DDP, replace this process's test forecasts with all processes' in dataset order, so the scoring
        against the baselines sees every test window with its own origin. Lightning's ``DistributedSampler`` (no
        shuffling) gives rank ``r`` the windows ``r, r + W, r + 2W, …`` of the test set padded to a multiple of ``W``
        processes: interleaving the gathered forecasts restores the order, and the padding falls off the end."""
        if self.trainer.world_size <= 1 or not self._forecasts["test"]:
            return
        local = torch.cat(self._forecasts["test"]).to(self.device)
        gathered = self.all_gather(local)  # (W, N / W, H, outputs)
        ordered = gathered.transpose(0, 1).flatten(0, 1)[: len(self.datamodule.windows["test"])]
        self._forecasts["test"] = [ordered.cpu()]

    def on_test_epoch_end(self) -> None:
        self.gather_test_forecasts()
        if self._forecasts["test"] and self.scores_baselines:
            self.comparison = self.score_test()
            for name, metrics in self.comparison.items():
                for metric, value in metrics.items():
                    if name != "lstm" or metric not in self.test_metrics.keys(keep_base=True):
                        self.log(f"test/{metric}" if name == "lstm" else f"test/{name}/{metric}", value)
            print_comparison(self.comparison, f"test forecasts, {self.datamodule.series} (original units)")
        super().on_test_epoch_end()

    # ---- figures --------------------------------------------------------------------------------------
    def log_media(self, stage: str) -> None:
        if not self._forecasts[stage] or not self.scores_baselines:
            return
        dm = self.datamodule
        forecasts = torch.cat(self._forecasts[stage]).double().numpy()
        origins = dm.windows[stage].origins[: len(forecasts)]
        baselines = self._baseline_paths if stage == "test" else {}
        figure = forecast_figure(dm, origins, forecasts, self.point_index, baselines, self.hparams.media_points)
        self.log_figure(f"{stage}/forecast_vs_actual", figure)


def forecast_figure(dm, origins, forecasts, point_index, baselines, max_points):
    """Actual series and forecasts from every ``horizon``-th origin (non-overlapping paths), with the interval
    between the outer quantiles when there are several; the baselines' paths dashed."""
    figure = new_figure(figsize=(10, 3.5), layout="tight")
    if figure is None:
        return None
    horizon = dm.horizon
    keep = np.arange(0, len(origins), horizon)[: max(1, max_points // horizon)]
    rows = (origins[keep, None] + np.arange(horizon)).ravel()
    context = np.arange(max(rows[0] - dm.input_length, 0), rows[-1] + 1)
    times = np.asarray(dm.index)
    axes = figure.add_subplot()
    axes.plot(times[context], dm.target_series[context], color="black", lw=1, label="actual")
    axes.plot(times[rows], forecasts[keep, :, point_index].ravel(), color="C0", label="LSTM")
    if forecasts.shape[-1] > 1:
        lower, upper = forecasts[keep, :, 0].ravel(), forecasts[keep, :, -1].ravel()
        axes.fill_between(times[rows], lower, upper, color="C0", alpha=0.25, label="LSTM interval")
    for i, (name, mean) in enumerate(baselines.items()):
        axes.plot(times[rows], mean[keep].ravel(), ls="--", lw=1, color=f"C{i + 1}", label=name)
    axes.set_title(f"{dm.series}: forecasts of {horizon} step(s) from every {horizon}-th origin")
    axes.legend(fontsize="small", ncols=3)
    return figure


@rank_zero_only
def print_comparison(table: Mapping[str, Mapping[str, float]], title: str) -> None:
    """One row per model, one column per metric."""
    from rich.console import Console
    from rich.table import Table

    metrics = list(dict.fromkeys(m for row in table.values() for m in row))
    out = Table(title=title, header_style="bold")
    out.add_column("model")
    for metric in metrics:
        out.add_column(metric, justify="right")
    for name, row in table.items():
        out.add_row(name, *(f"{row[m]:.4g}" if m in row else "" for m in metrics))
    Console(width=max(100, Console().width)).print(out)
