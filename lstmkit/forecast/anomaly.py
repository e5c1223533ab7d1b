"""Labelled anomalies injected into a real series, threshold calibration on validation scores, and detection scores.

Injection (:func:`inject_anomalies`) is seeded — the same ``seed`` and arguments give the same series, labels and
events — and corrupts disjoint segments of ``values[start:stop]``, at least ``min_gap`` clean points apart:

- **spike**: one point moves by ``± spike_size · scale``;
- **level shift**: ``shift_length`` points move by ``± shift_size · scale``;
- **variance change**: ``variance_length`` points get seeded Gaussian noise of standard deviation
  ``variance_size · scale`` added (a failing sensor, a noisier regime);
- **dropout**: ``dropout_length`` points read ``dropout_value`` (a sensor reporting zero).

``scale`` defaults to the standard deviation of the first differences of the clean segment: the size of ordinary
step-to-step moves, which stays meaningful on trending series where the level's standard deviation does not.
Every corrupted point is labelled ``True``; the detector is scored point by point.

Scoring (:func:`robust_online_scores`, :func:`smoothed_score`) takes any one-step forecaster — the LSTM, naive,
seasonal naive — and turns its errors into a score that is comparable across forecasters, series and time: the
error's distance from the median of the recent errors in units of their robust spread (MAD), computed online with
extreme points replaced by their forecasts, then raised to a multiple of its windowed median where a run of
moderately large errors signals a variance change. A threshold is then calibrated on the validation scores
(:func:`calibrate_threshold`), and the test scores are judged with and without a threshold
(:func:`detection_scores`, :func:`pr_auc`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Anomaly",
    "InjectedSeries",
    "calibrate_threshold",
    "detection_scores",
    "inject_anomalies",
    "pr_auc",
    "robust_online_scores",
    "smoothed_score",
]

# forecast(cleaned (K, T), t) -> (K,) one-step forecasts of row t, reading only cleaned[:, :t]
OneStepForecast = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "spike", "level_shift", "variance_change" or "dropout"
    start: int  # position of the first corrupted point
    length: int  # number of corrupted points
    value: float  # offset added (spike, level shift), noise std added (variance change) or value written (dropout)


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
    variance_changes: int = 0,
    spike_size: float = 5.0,
    shift_size: float = 3.0,
    shift_length: int = 20,
    variance_size: float = 2.0,
    variance_length: int = 20,
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
    lengths = {"spike": 1, "level_shift": shift_length, "variance_change": variance_length, "dropout": dropout_length}
    wanted = {"spike": spikes, "level_shift": level_shifts, "variance_change": variance_changes, "dropout": dropouts}
    kinds = rng.permutation([kind for kind, count in wanted.items() for _ in range(count)])
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
                f"ask for fewer anomalies ({', '.join(f'{k}s={n}' for k, n in wanted.items())})"
            )
        first = int(rng.choice(free))
        segment = slice(first, first + length)
        if kind == "dropout":
            value = dropout_value
            corrupted[segment] = value
        elif kind == "variance_change":
            value = variance_size * scale
            corrupted[segment] += rng.normal(0.0, value, length)
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


def pr_auc(scores, labels) -> float:
    """Area under the precision-recall curve of ``scores (N,)`` against boolean ``labels (N,)``, as average
    precision (scikit-learn's step-wise sum, no interpolation): threshold-free, and unlike ROC-AUC not flattered by
    the many easy normal points."""
    scores, labels = np.asarray(scores, dtype=np.float64).reshape(-1), np.asarray(labels, dtype=bool).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels: expected the same length, got {len(scores)} and {len(labels)}")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores: expected finite values, got {np.count_nonzero(~np.isfinite(scores))} NaN/inf")
    if not labels.any():
        raise ValueError("labels: need at least one anomaly for a precision-recall curve")
    from sklearn.metrics import average_precision_score  # imported when scoring, not with the data module

    return float(average_precision_score(labels, scores))


def robust_online_scores(
    series, rows, forecast: OneStepForecast, window: int = 52, clean_at: float = 4.0, max_run: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One online pass over ``rows`` (ascending positions): robust z-scores of the one-step forecast errors.

    Row ``t`` is forecast by ``forecast(cleaned[None], t)`` from a cleaned copy of ``series``; its error ``e`` is
    scaled by the median and the MAD of the errors of the last ``window`` accepted rows:
    ``z = |e - median| / (1.4826 · MAD)`` (1.4826 = 1 / Φ⁻¹(3/4) makes the MAD estimate a normal's std). A row
    with ``z >= clean_at`` is replaced in the copy by its forecast (plus the median error) and left out of the
    spread, so an anomaly neither anchors the forecasts after it nor inflates the spread that scores them; after
    ``max_run`` consecutive replacements the next row is accepted as observed (a change that lasts longer is the
    new normal). ``clean_at`` is fixed, not the decision threshold: the scores are computed once, and any
    threshold is then applied to them (which is what makes a precision-recall curve of them meaningful).

    The first ``window`` rows only fill the spread (their z is NaN): pass clean rows there (the last training
    rows). Returns ``z (len(rows),)`` and the ``spread (len(rows),)`` it was scaled by (NaN in the first window),
    float64, and the cleaned series ``(T,)``.
    """
    from scipy.stats import median_abs_deviation  # imported when scoring, not with the data module

    series = np.asarray(series, dtype=np.float64)
    rows = np.asarray(rows)
    if len(rows) <= window:
        raise ValueError(f"rows: need more than window={window} rows (the first fill the spread), got {len(rows)}")
    cleaned = series.copy()
    accepted = np.empty(window)  # ring buffer of the last `window` accepted errors
    z, spreads = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    seen, run = 0, 0
    for j, t in enumerate(rows):
        predicted = float(np.asarray(forecast(cleaned[None], int(t)), dtype=np.float64)[0])
        error = series[t] - predicted
        if seen >= window:
            centre = np.median(accepted)
            spreads[j] = median_abs_deviation(accepted, scale="normal")
            z[j] = abs(error - centre) / max(spreads[j], np.finfo(np.float64).tiny)
            if z[j] >= clean_at and run < max_run:
                cleaned[t], run = predicted + centre, run + 1
                continue
        accepted[seen % window], seen, run = error, seen + 1, 0
    return z, spreads, cleaned


def smoothed_score(z, width: int = 5, gain: float = 2.0) -> np.ndarray:
    """``max(z, gain · median of z over a centred window of width points)`` for ``z (N,)``.

    The windowed median stays low next to an isolated spike (one large value of ``width``) but rises over a run of
    moderately large errors — a variance change, whose single points are rarely extreme. NaN where ``z`` is NaN.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width: expected an odd number >= 1, got {width}")
    import pandas as pd  # imported when scoring, not with the data module

    z = np.asarray(z, dtype=np.float64)
    local = pd.Series(z).rolling(width, center=True, min_periods=1).median().to_numpy()
    return np.where(np.isnan(z), np.nan, np.fmax(z, gain * local))
