"""Baselines against hand-computed forecasts on toy series, and the SARIMAX forecaster against statsmodels itself
refitted per origin and against the closed-form AR(1) forecast."""

import numpy as np
import pytest
import statsmodels.api as sm

from lstmkit.forecast.baselines import SarimaxForecaster, fourier_terms, naive_forecast, seasonal_naive_forecast

# Four "seasons" of period 4: 10 20 30 40 | 11 21 31 41 | 12 22 32 42
TOY = np.array([10, 20, 30, 40, 11, 21, 31, 41, 12, 22, 32, 42], dtype=float)


def test_naive_repeats_the_last_observed_value():
    np.testing.assert_array_equal(naive_forecast(TOY, [8, 5], 3), [[41, 41, 41], [11, 11, 11]])


def test_seasonal_naive_repeats_the_last_observed_season():
    # origin 8 has seen up to 41 (row 7); the last season is 11 21 31 41, repeated
    np.testing.assert_array_equal(seasonal_naive_forecast(TOY, [8], 4, season=4), [[11, 21, 31, 41]])
    np.testing.assert_array_equal(seasonal_naive_forecast(TOY[:8], [6], 2, season=4), [[30, 40]])  # rows 2, 3
    # origin 5 has seen 10 20 30 40 11: the value one season before row 5 is 20, before row 8 it is 40 again, ...
    np.testing.assert_array_equal(seasonal_naive_forecast(TOY, [5], 6, season=4), [[20, 30, 40, 11, 20, 30]])


def test_baselines_reject_origins_without_history():
    with pytest.raises(ValueError, match=r"origins must lie in \[4, 10\]"):
        seasonal_naive_forecast(TOY, [3], 2, season=4)
    with pytest.raises(ValueError, match=r"origins must lie in \[1, 10\]"):
        naive_forecast(TOY, [11], 2)


def test_fourier_terms_by_hand():
    terms = fourier_terms(5, period=4.0, terms=2)
    t = np.arange(5)
    expected = np.column_stack([np.sin(np.pi * t / 2), np.cos(np.pi * t / 2), np.sin(np.pi * t), np.cos(np.pi * t)])
    np.testing.assert_allclose(terms, expected, atol=1e-12)


def test_ar1_forecast_is_the_closed_form():
    """y[t] = c + φ·y[t-1] + ε, σ² = Var ε: mean ŷ[o+h] = c + φ·ŷ[o+h-1], variance σ²·Σ_{j<=h} φ^{2j}."""
    c, phi, sigma2 = 2.0, 0.6, 0.5
    series = np.array([5.0, 6.0, 4.0, 7.0, 5.5, 6.5, 4.5, 5.0, 6.0])
    forecaster = SarimaxForecaster(order=(1, 0, 0), trend="c")
    forecaster.params_ = np.array([c, phi, sigma2])
    mean, std = forecaster.forecast(series, np.array([4, 6]), 3)
    for row, origin in enumerate([4, 6]):
        last, var = series[origin - 1], 0.0
        for h in range(3):
            last, var = c + phi * last, var + sigma2 * phi ** (2 * h)
            assert mean[row, h] == pytest.approx(last, rel=1e-9)
            assert std[row, h] == pytest.approx(np.sqrt(var), rel=1e-9)


@pytest.mark.parametrize(
    "spec", [dict(order=(2, 1, 0)), dict(order=(1, 0, 0), trend="c", fourier_period=11.0, fourier_order=1)]
)
def test_sarimax_matches_statsmodels_refiltered_at_each_origin(spec):
    series = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    forecaster = SarimaxForecaster(**spec).fit(series, fit_end=200)
    origins = np.array([210, 250, 300])
    mean, std = forecaster.forecast(series, origins, 4)
    exog = fourier_terms(len(series), 11.0, 1) if spec.get("fourier_order") else None
    model = sm.tsa.SARIMAX(
        series[:200], exog=None if exog is None else exog[:200], order=spec["order"], trend=spec.get("trend")
    )
    fitted = model.filter(forecaster.params_)  # the parameters fitted on the training rows; statsmodels forecasts
    for row, origin in enumerate(origins):
        past = fitted.apply(series[:origin], exog=None if exog is None else exog[:origin])
        expected = past.get_forecast(4, exog=None if exog is None else exog[origin : origin + 4])
        np.testing.assert_allclose(mean[row], expected.predicted_mean, rtol=1e-7)
        np.testing.assert_allclose(std[row], expected.se_mean, rtol=1e-7)
