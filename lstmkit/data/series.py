"""The series of the forecasting and anomaly experiments, as DataFrames indexed by time, oldest first.

All are offline: a synthetic sine and data sets that statsmodels ships (Hyndman & Athanasopoulos use several).
Loaders apply only fixed, parameter-free transformations (growth rates, calendar indices); anything fitted on data
(filling, scaling, clipping) belongs to :mod:`lstmkit.data.prep`, fitted on the training split.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from lstmkit.utils.imports import require

__all__ = ["SERIES", "load_series"]


def _statsmodels_data(name: str) -> pd.DataFrame:
    sm = require("statsmodels.api", extra="data", purpose=f"the {name} series")
    return getattr(sm.datasets, name).load_pandas().data


def sine() -> pd.DataFrame:
    """``y = sin(t)`` for ``t = 0, 0.1, …, 99.9`` (1000 points), the classic first LSTM regression example."""
    t = np.arange(0, 100, 0.1)
    return pd.DataFrame({"y": np.sin(t)}, index=pd.Index(t, name="t"))


def sunspots() -> pd.DataFrame:
    """Yearly mean sunspot numbers 1700–2008 (309 values; solar cycle ≈ 11 years)."""
    data = _statsmodels_data("sunspots")
    return pd.DataFrame({"sunspots": data["SUNACTIVITY"].to_numpy()}, index=data["YEAR"].astype(int).rename("year"))


def co2() -> pd.DataFrame:
    """Weekly atmospheric CO₂ at Mauna Loa, ppm, March 1958 – December 2001 (2284 weeks, 59 missing)."""
    return _statsmodels_data("co2")


def macro() -> pd.DataFrame:
    """US quarterly macro data 1959Q2–2009Q3 as annualised growth rates (percent) and rates.

    Columns: ``gdp_growth``, ``cons_growth``, ``inv_growth`` (400 · Δlog of real GDP, consumption, investment),
    ``infl`` (inflation), ``unemp`` (unemployment rate), ``tbilrate`` (3-month T-bill rate).
    """
    data = _statsmodels_data("macrodata")
    index = pd.PeriodIndex.from_fields(year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q")
    growth = {f"{name}_growth": 400 * np.log(data[f"real{name}"]).diff() for name in ("gdp", "cons", "inv")}
    frame = pd.DataFrame({**growth, **{c: data[c] for c in ("infl", "unemp", "tbilrate")}})
    frame.index = index.to_timestamp(how="end").normalize().rename("quarter")
    return frame.iloc[1:]  # the first quarter has no growth rate


SERIES: dict[str, Callable[[], pd.DataFrame]] = {"sine": sine, "sunspots": sunspots, "co2": co2, "macro": macro}


def load_series(name: str) -> pd.DataFrame:
    if name not in SERIES:
        raise ValueError(f"series: unknown name {name!r}; choose from {sorted(SERIES)}")
    return SERIES[name]()
