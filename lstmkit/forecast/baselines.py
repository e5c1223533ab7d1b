"""Forecasting baselines evaluated on the same windows as a network: naive, seasonal naive and a statsmodels SARIMAX.

Every baseline forecasts from the **origins** of :func:`lstmkit.data.windowing.make_windows` (row position of the
first forecast step) over ``horizon`` steps and may read the whole series before the origin — all of it has been
observed by then — but nothing from the origin on. Forecasts are ``(N, horizon)`` arrays in the series' units.

The classical model follows Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.): ARIMA
(§9), with seasonal ARIMA for short periods and Fourier terms ("dynamic harmonic regression", §10.5) for long ones
such as weekly data (period ≈ 52.18), where a seasonal state of 52 lags makes fitting impractically slow.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["SarimaxForecaster", "fourier_terms", "naive_forecast", "seasonal_naive_forecast"]


def _check_origins(series: np.ndarray, origins: np.ndarray, horizon: int, history: int) -> np.ndarray:
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and (origins.min() < history or origins.max() + horizon > len(series)):
        raise ValueError(
            f"origins must lie in [{history}, {len(series) - horizon}] (history {history}, horizon {horizon}, "
            f"series length {len(series)}), got [{origins.min()}, {origins.max()}]"
        )
    return origins


def naive_forecast(series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Last observed value repeated: ``ŷ[o + h] = y[o - 1]``. Returns ``(N, horizon)``."""
    series = np.asarray(series, dtype=np.float64)
    origins = _check_origins(series, origins, horizon, history=1)
    return np.repeat(series[origins - 1, None], horizon, axis=1)


def seasonal_naive_forecast(series: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Value one season earlier, repeating the last observed season: ``ŷ[o + h] = y[o + h - season·(⌊h/season⌋ + 1)]``
    for ``h = 0..horizon-1``. Returns ``(N, horizon)``."""
    if int(season) != season or season < 1:
        raise ValueError(f"season must be a positive integer, got {season!r}")
    series = np.asarray(series, dtype=np.float64)
    origins = _check_origins(series, origins, horizon, history=season)
    steps = np.arange(horizon)
    return series[origins[:, None] + steps - season * (steps // season + 1)]


def fourier_terms(length: int, period: float, terms: int) -> np.ndarray:
    """``(length, 2·terms)`` regressors ``sin(2πkt/period), cos(2πkt/period)``, k = 1..terms, t = 0..length-1."""
    angle = 2 * np.pi * np.arange(length)[:, None] * np.arange(1, terms + 1) / period
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(length, 2 * terms)


def _at(matrix: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A state-space system matrix ``(..., nobs or 1)`` at each time of ``times`` → ``(..., len(times))``."""
    return matrix[..., times] if matrix.shape[-1] > 1 else np.repeat(matrix, len(times), axis=-1)


class SarimaxForecaster:
    """SARIMAX(order)(seasonal_order) with a ``trend`` and optional Fourier regressors of period ``fourier_period``.

    :meth:`fit` estimates the parameters by maximum likelihood on the rows before ``fit_end`` (the training split).
    :meth:`forecast` then runs one Kalman filter over the series with those parameters fixed and, from the
    one-step-ahead state ``a[o | o-1]`` and covariance at every origin ``o``, propagates ``a ← c + T a``,
    ``P ← T P Tᵀ + R Q Rᵀ`` for ``horizon`` steps: the same forecast as refitting the filter on ``series[:o]`` for
    each origin, in one pass. Returns the forecast mean and standard deviation, each ``(N, horizon)``.
    """

    def __init__(
        self,
        order: Sequence[int] = (1, 0, 0),
        seasonal_order: Sequence[int] = (0, 0, 0, 0),
        trend: str | None = None,
        fourier_period: float | None = None,
        fourier_order: int = 0,
    ):
        if fourier_order and not fourier_period:
            raise ValueError(f"fourier_order={fourier_order} needs a fourier_period, got {fourier_period!r}")
        self.order, self.seasonal_order, self.trend = tuple(order), tuple(seasonal_order), trend
        self.fourier_period, self.fourier_order = fourier_period, fourier_order

    def _model(self, series: np.ndarray):
        exog = fourier_terms(len(series), self.fourier_period, self.fourier_order) if self.fourier_order else None
        from statsmodels.tsa.statespace.sarimax import SARIMAX  # ~1 s to import: only when a SARIMAX is fitted

        return SARIMAX(series, exog=exog, order=self.order, seasonal_order=self.seasonal_order, trend=self.trend)

    def fit(self, series: np.ndarray, fit_end: int) -> SarimaxForecaster:
        series = np.asarray(series, dtype=np.float64)
        with warnings.catch_warnings():  # convergence chatter from the optimiser; the fit is still usable
            warnings.simplefilter("ignore")
            self.params_ = self._model(series[:fit_end]).fit(disp=False).params
        return self

    def forecast(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        series = np.asarray(series, dtype=np.float64)
        origins = _check_origins(series, origins, horizon, history=1)
        state = self._model(series).filter(self.params_).filter_results
        a = state.predicted_state[:, origins]  # (k, N): a[o | o-1]
        p = state.predicted_state_cov[:, :, origins]  # (k, k, N)
        mean, var = np.empty((len(origins), horizon)), np.empty((len(origins), horizon))
        for h in range(horizon):
            t = origins + h
            z, d, obs_cov = _at(state.design, t), _at(state.obs_intercept, t), _at(state.obs_cov, t)
            mean[:, h] = np.einsum("kn,kn->n", z[0], a) + d[0]
            var[:, h] = np.einsum("kn,kln,ln->n", z[0], p, z[0]) + obs_cov[0, 0]
            transition, selection = _at(state.transition, t), _at(state.selection, t)
            a = np.einsum("kln,ln->kn", transition, a) + _at(state.state_intercept, t)
            p = np.einsum("kln,lmn,jmn->kjn", transition, p, transition) + np.einsum(
                "kin,ijn,ljn->kln", selection, _at(state.state_cov, t), selection
            )
        return mean, np.sqrt(np.maximum(var, 0.0))
