"""Labelled anomalies injected into a real series, threshold calibration on validation scores, and detection scores.

Injection (:func:`inject_anomalies`) is seeded — the same ``seed`` and arguments give the same series, labels and
events — and corrupts disjoint segments of ``values[start:stop]``, at least ``min_gap`` clean points apart:

- **spike**: one point moves by ``± spike_size · scale``;
- **level shift**: ``shift_length`` points move by ``± shift_size · scale``;
- **dropout**: ``dropout_length`` points read ``dropout_value`` (a sensor reporting zero).

``scale`` defaults to the standard deviation of the first differences of the clean segment: the size of ordinary
step-to-step moves, which stays meaningful on trending series where the level's standard deviation does not.
Every corrupted point is labelled ``True``; the detector is scored point by point.

Detection (:func:`detect_and_impute`) is online and forecast-based: each point is forecast one step ahead from
the points before it, flagged when its absolute error reaches the threshold, and then replaced by its forecast,
so that an anomaly does not corrupt the forecasts that follow it (without the replacement a spike also flags its
successor, and a level shift or dropout is flagged only where it begins). The threshold is calibrated on the
validation rows (:func:`calibrate_detection_threshold`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Anomaly",
    "InjectedSeries",
    "calibrate_detection_threshold",
    "calibrate_threshold",
    "detect_and_impute",
    "detection_scores",
    "inject_anomalies",
]

# forecast(cleaned (K, T), t) -> (K,) one-step forecasts of row t, reading only cleaned[:, :t]
OneStepForecast = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "spike", "level_shift" or "dropout"
    start: int  # position of the first corrupted point
    length: int  # number of corrupted points
    value: float  # offset added (spike, level shift) or value written (dropout)


@dataclass
class InjectedSeries:
    values: np.ndarray  # (T,) float64: the corrupted series
    labels: np.ndarray  # (T,) bool: True at corrupted points
    anomalies: list[Anomaly]  # in order of position


def inject_anomalies(
    values,
    seed: int,
    spikes: int = 5,
    level_shifts: int = 2,
    dropouts: int = 2,
    spike_size: float = 5.0,
    shift_size: float = 3.0,
    shift_length: int = 20,
    dropout_length: int = 10,
    dropout_value: float = 0.0,
    scale: float | None = None,
    start: int = 0,
    stop: int | None = None,
    min_gap: int = 5,
) -> InjectedSeries:
    """Corrupt a copy of ``values`` between positions ``start`` and ``stop`` as the module describes."""
    clean = np.asarray(values, dtype=np.float64)
    stop = len(clean) if stop is None else stop
    if not 0 <= start < stop <= len(clean):
        raise ValueError(f"need 0 <= start < stop <= {len(clean)}, got start={start}, stop={stop}")
    if scale is None:
        scale = float(np.diff(clean[start:stop]).std())
    rng = np.random.default_rng(seed)
    lengths = {"spike": 1, "level_shift": shift_length, "dropout": dropout_length}
    kinds = rng.permutation(["spike"] * spikes + ["level_shift"] * level_shifts + ["dropout"] * dropouts)
    corrupted, labels, anomalies = clean.copy(), np.zeros(len(clean), dtype=bool), []
    blocked = np.zeros(len(clean), dtype=bool)  # corrupted points and their min_gap margins
    for kind in kinds:
        length = lengths[kind]
        # A start s is free when [s, s + length) avoids every blocked point: a sliding count of blocked points.
        counts = np.convolve(blocked[start:stop].astype(np.int64), np.ones(length, dtype=np.int64), mode="valid")
        free = start + np.flatnonzero(counts == 0)
        if len(free) == 0:
            raise ValueError(
                f"no room for another {kind} of length {length} in positions [{start}, {stop}) with min_gap={min_gap}; "
                f"ask for fewer anomalies (spikes={spikes}, level_shifts={level_shifts}, dropouts={dropouts})"
            )
        first = int(rng.choice(free))
        segment = slice(first, first + length)
        if kind == "dropout":
            value = dropout_value
            corrupted[segment] = value
        else:
            value = float(rng.choice([-1.0, 1.0])) * (spike_size if kind == "spike" else shift_size) * scale
            corrupted[segment] += value
        labels[segment] = True
        blocked[max(first - min_gap, 0) : first + length + min_gap] = True
        anomalies.append(Anomaly(str(kind), first, length, value))
    return InjectedSeries(corrupted, labels, sorted(anomalies, key=lambda a: a.start))


def calibrate_threshold(scores, labels=None, method: str = "f1", quantile: float = 0.99) -> float:
    """A threshold for ``flag = score >= threshold`` chosen on validation scores.

    ``method="f1"``: the threshold maximising F1 against the validation ``labels`` (needs labelled anomalies in the
    validation split). ``method="quantile"``: the ``quantile`` of the scores, for anomaly-free validation data
    (then about ``1 - quantile`` of normal points are flagged).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if method == "quantile":
        return float(np.quantile(scores, quantile))
    if method != "f1":
        raise ValueError(f"method must be 'f1' or 'quantile', got {method!r}")
    if labels is None or not np.any(labels):
        raise ValueError("method='f1' needs validation labels with at least one anomaly; else use method='quantile'")
    from sklearn.metrics import precision_recall_curve  # imported when scoring, not with the data module

    precision, recall, thresholds = precision_recall_curve(np.asarray(labels).reshape(-1), scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[np.argmax(f1)])


def detection_scores(flags, labels) -> dict[str, float]:
    """Point-wise ``precision``, ``recall`` and ``f1`` of boolean ``flags`` against ``labels`` (0 when undefined)."""
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        np.asarray(labels, dtype=bool).reshape(-1),
        np.asarray(flags, dtype=bool).reshape(-1),
        average="binary",
        zero_division=0,
    )
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def detect_and_impute(
    series, rows, forecast: OneStepForecast, thresholds, max_run: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Online detection over ``rows`` (ascending positions) for each of ``thresholds (K,)`` at once.

    Each threshold keeps its own cleaned copy of ``series``: row ``t`` is forecast by ``forecast(cleaned, t)``,
    scored ``|series[t] - forecast|``, flagged when the score reaches the threshold, and a flagged point is
    replaced by its forecast in that copy. After ``max_run`` consecutive flags the next point is accepted as
    observed — a change that lasts longer is the new normal — which also stops a missed anomaly from sending the
    imputed path off on its own. Returns ``scores`` and boolean ``flags``, each ``(K, len(rows))``.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    series = np.asarray(series, dtype=np.float64)
    cleaned = np.repeat(series[None], len(thresholds), axis=0)
    scores = np.empty((len(thresholds), len(rows)))
    flags = np.zeros((len(thresholds), len(rows)), dtype=bool)
    run = np.zeros(len(thresholds), dtype=np.int64)
    for j, t in enumerate(rows):
        predicted = np.asarray(forecast(cleaned, int(t)), dtype=np.float64)
        scores[:, j] = np.abs(series[t] - predicted)
        flags[:, j] = (scores[:, j] >= thresholds) & (run < max_run)
        run = np.where(flags[:, j], run + 1, 0)
        cleaned[flags[:, j], t] = predicted[flags[:, j]]
    return scores, flags


def calibrate_detection_threshold(
    series,
    rows,
    labels,
    forecast: OneStepForecast,
    method: str = "f1",
    quantile: float = 0.99,
    candidates: int = 51,
    max_run: int = 10,
) -> float:
    """The threshold of :func:`detect_and_impute` on validation ``rows``.

    ``method="quantile"``: the ``quantile`` of the plain one-step errors (nothing replaced), for anomaly-free
    validation rows. ``method="f1"``: of ``candidates`` thresholds — quantiles 0.5 to 1 of those errors — the one
    whose online detection has the best F1 against ``labels`` (one per row), the lowest on ties.
    """
    plain, _ = detect_and_impute(series, rows, forecast, [np.inf])
    if method != "f1":
        return calibrate_threshold(plain, method=method, quantile=quantile)
    if not np.any(labels):
        raise ValueError("method='f1' needs validation labels with at least one anomaly; else use method='quantile'")
    grid = np.unique(np.quantile(plain[0], np.linspace(0.5, 1.0, candidates)))
    _, flags = detect_and_impute(series, rows, forecast, grid, max_run)
    f1 = [detection_scores(row_flags, labels)["f1"] for row_flags in flags]
    return float(grid[int(np.argmax(f1))])
