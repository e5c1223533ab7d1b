"""Forecast-based anomaly detection: a one-step LSTM forecaster trained on the clean training rows scores each
point by its robust z-score (one-step error against the median and MAD of the recent errors), smoothed for
variance changes.

The data module injects labelled anomalies into the validation and test rows
(:func:`lstmkit.forecast.anomaly.inject_anomalies`). After testing, one online pass
(:func:`~lstmkit.forecast.anomaly.robust_online_scores`: extreme points are replaced by their forecasts, so they do
not corrupt the forecasts after them) scores the validation and test rows, preceded by ``spread_window`` training
rows that fill the spread; :func:`~lstmkit.forecast.anomaly.smoothed_score` adds the windowed median, and the
threshold is calibrated on the validation rows (:func:`~lstmkit.forecast.anomaly.calibrate_threshold`: best F1
against the validation labels, or a quantile), the same rule for every detector.
Test points are scored point-wise (precision, recall, F1, and ``pr_auc``: average precision of the score, which
needs no threshold) and per event (``event_recall``: injected anomalies with at least one flagged point). Naive
and seasonal naive forecasts give baseline detectors scored by the same machinery (SARIMAX is left out: it has
no cheap one-step update on a cleaned series).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lstmkit.data.windowing import windows_at
from lstmkit.forecast.anomaly import (
    calibrate_threshold,
    detection_scores,
    pr_auc,
    robust_online_scores,
    smoothed_score,
)
from lstmkit.tasks.base import new_figure
from lstmkit.tasks.forecasting import ForecastTask, print_comparison


class ForecastAnomalyTask(ForecastTask):
    """:class:`ForecastTask` whose test stage also detects the injected anomalies.

    Args:
        threshold_method: ``"f1"`` or ``"quantile"`` (see :func:`~lstmkit.forecast.anomaly.calibrate_threshold`).
        threshold_quantile: the quantile for ``threshold_method="quantile"``.
        spread_window: errors of this many recent accepted rows give the robust centre and spread.
        clean_at: z-score from which a point is replaced by its forecast in the history.
        max_run: longest run of replaced points; the next one is accepted as the new normal.
        smooth_width, smooth_gain: the windowed median of :func:`~lstmkit.forecast.anomaly.smoothed_score`
            (``smooth_gain=0``: the plain z-score).
        **forecast_args: see :class:`ForecastTask`.
    """

    def __init__(
        self,
        *,
        threshold_method: str = "f1",
        threshold_quantile: float = 0.99,
        spread_window: int = 52,
        clean_at: float = 4.0,
        max_run: int = 10,
        smooth_width: int = 5,
        smooth_gain: float = 2.0,
        **forecast_args: Any,
    ):
        super().__init__(**forecast_args)
        self.detection: dict[str, dict[str, float]] = {}

    def _lstm_one_step(self, rows: np.ndarray):
        """The LSTM as a :data:`~lstmkit.forecast.anomaly.OneStepForecast` for origins in ``rows``: the target
        channel of each window is replaced by the (cleaned) history it is given, other inputs stay as prepared."""
        dm = self.datamodule
        windows = windows_at(dm.prepared, dm.target, rows, dm.input_length, 1, dm.past_covariates, dm.future_columns)
        inputs, future = torch.from_numpy(windows.inputs), torch.from_numpy(windows.future)
        position = {int(t): i for i, t in enumerate(rows)}

        @torch.no_grad()
        def forecast(cleaned: np.ndarray, t: int) -> np.ndarray:
            i, k = position[t], len(cleaned)
            x = inputs[i].repeat(k, 1, 1)
            x[:, :, 0] = torch.from_numpy(dm.pipeline.transform_target(cleaned[:, t - dm.input_length : t]))
            out = self.net(x.to(self.device), future[i].expand(k, -1, -1).to(self.device))
            return dm.pipeline.inverse_transform_target(out[:, 0, self.point_index].cpu().numpy())

        return forecast

    def detect(self) -> dict[str, dict[str, float]]:
        dm, hp = self.datamodule, self.hparams
        labels, series = dm.anomaly_labels, dm.target_series
        val_rows, test_rows = dm.windows["val"].origins, dm.windows["test"].origins
        first = val_rows[0] - hp.spread_window  # the last training rows fill the spread
        if first < max(dm.input_length, dm.season):
            raise ValueError(
                f"spread_window={hp.spread_window}: the training rows before the validation split hold "
                f"{val_rows[0] - max(dm.input_length, dm.season)} scorable rows; lower it"
            )
        rows = np.concatenate([np.arange(first, val_rows[0]), val_rows, test_rows])
        detectors = {"lstm": self._lstm_one_step(rows), "naive": lambda cleaned, t: cleaned[:, t - 1]}
        if dm.season > 1:
            detectors["seasonal_naive"] = lambda cleaned, t: cleaned[:, t - dm.season]
        was_training, results = self.training, {}
        self.eval()
        for name, forecast in detectors.items():
            z, spread, _ = robust_online_scores(series, rows, forecast, hp.spread_window, hp.clean_at, hp.max_run)
            score = smoothed_score(z, hp.smooth_width, hp.smooth_gain)[hp.spread_window :]
            val_score, test_score = score[: len(val_rows)], score[len(val_rows) :]
            threshold = calibrate_threshold(val_score, labels[val_rows], hp.threshold_method, hp.threshold_quantile)
            test_flags = test_score >= threshold
            results[name] = {
                **detection_scores(test_flags, labels[test_rows]),
                "pr_auc": pr_auc(test_score, labels[test_rows]),
                "event_recall": _event_recall(dm.injected, test_rows, test_flags),
                **_recall_by_kind(dm.injected, test_rows, test_flags),
                "spread": float(np.median(spread[-len(test_rows) :])),
                "threshold": threshold,
            }
            if name == "lstm":
                self._flags = (test_rows, test_flags)
        self.train(was_training)
        return results

    def on_test_epoch_end(self) -> None:
        if self._forecasts["test"] and not self.trainer.fast_dev_run:
            self.detection = self.detect()
            for name, metrics in self.detection.items():
                for metric, value in metrics.items():
                    self.log(f"test/{metric}" if name == "lstm" else f"test/{name}/{metric}", value)
            print_comparison(self.detection, f"anomaly detection on {self.datamodule.series} test rows")
        super().on_test_epoch_end()

    def log_media(self, stage: str) -> None:
        super().log_media(stage)
        if stage != "test" or not self.detection:
            return
        figure = new_figure(figsize=(10, 3.5), layout="tight")
        if figure is None:
            return
        dm, (rows, flags) = self.datamodule, self._flags
        times, values = np.asarray(dm.index)[rows], dm.target_series[rows]
        axes = figure.add_subplot()
        # the y range of the unlabelled values: dropouts (to 0) would flatten everything else
        normal = values[~dm.anomaly_labels[rows]]
        low, high = normal.min() - 0.3 * np.ptp(normal), normal.max() + 0.3 * np.ptp(normal)
        axes.plot(times, np.clip(values, low, high), color="black", lw=1, label="series (clipped to the axes)")
        for k, anomaly in enumerate(a for a in dm.injected if rows[0] <= a.start <= rows[-1]):
            first, last = anomaly.start - rows[0], min(anomaly.start + anomaly.length, rows[-1] + 1) - 1 - rows[0]
            axes.axvspan(times[first], times[last], color="C1", alpha=0.3, lw=2, label="injected" if k == 0 else None)
        axes.scatter(times[flags], np.clip(values[flags], low, high), s=14, color="C3", marker="x", label="flagged")
        axes.set_ylim(low, high)
        scores = self.detection["lstm"]
        axes.set_title(
            f"LSTM robust forecast-error detector: precision {scores['precision']:.2f}, recall {scores['recall']:.2f}, "
            f"F1 {scores['f1']:.2f}"
        )
        axes.legend(fontsize="small")
        self.log_figure("test/anomalies", figure)


def _event_recall(anomalies, rows: np.ndarray, flags: np.ndarray) -> float:
    """Share of the injected anomalies inside ``rows`` with at least one flagged point."""
    flagged = set(rows[flags].tolist())
    events = [a for a in anomalies if rows[0] <= a.start <= rows[-1]]
    hits = [any(r in flagged for r in range(a.start, a.start + a.length)) for a in events]
    return float(np.mean(hits)) if hits else float("nan")


def _recall_by_kind(anomalies, rows: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    """``recall_<kind>``: share of the labelled points of each kind of injected anomaly inside ``rows`` flagged."""
    flagged = set(rows[flags].tolist())
    points: dict[str, list[bool]] = {}
    for a in anomalies:
        for r in range(a.start, a.start + a.length):
            if rows[0] <= r <= rows[-1]:
                points.setdefault(a.kind, []).append(r in flagged)
    return {f"recall_{kind}": float(np.mean(hits)) for kind, hits in sorted(points.items())}
