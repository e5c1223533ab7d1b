"""Data preparation on pandas DataFrames: missing values, outliers, scaling, categorical encoding, calendar features.

Every step follows the scikit-learn protocol ``fit(frame) → transform(frame) → inverse_transform(frame)`` and is
fitted on the **training split only**: a statistic (mean, quantile, category list, fallback value) never sees a
validation or test row. Steps that change observed values reversibly (scaling, encoding, calendar columns) invert
exactly; steps that discard information (imputation, clipping) invert as the identity and say so.

:class:`Pipeline` composes the steps for one forecasting target and inverts model outputs back to original units
with :meth:`Pipeline.inverse_transform_target`, whatever their shape (``(N,)``, ``(N, H)``, ``(N, H, Q)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

__all__ = [
    "CalendarFeatures",
    "ClipOutliers",
    "EncodeCategorical",
    "FillMissing",
    "Pipeline",
    "Scale",
    "check_numeric_columns",
]


def check_numeric_columns(frame: pd.DataFrame, columns: Sequence[str] | None, step: str) -> list[str]:
    """Return ``columns`` (default: every numeric column) after checking each exists, is numeric and is not all NaN."""
    if columns is None:
        return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    for column in columns:
        if column not in frame.columns:
            raise KeyError(f"{step}: column {column!r} is not in the frame; columns are {list(frame.columns)}")
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise TypeError(f"{step}: column {column!r} must be numeric, got dtype {frame[column].dtype}")
        if frame[column].isna().all():
            raise ValueError(
                f"{step}: column {column!r} is entirely NaN in the {len(frame)} training rows; drop it or fill it first"
            )
    return list(columns)


class FillMissing:
    """Fill or drop missing values.

    ``method``: ``"interpolate"`` (linear in time for a DatetimeIndex, in position otherwise; reads the next
    observation, so a gap just before a split boundary borrows one value from the next split — use ``"ffill"`` for a
    strictly causal fill), ``"ffill"`` (carry the last observation forward), or ``"drop"`` (remove rows with a missing
    value in ``columns``; the series then skips those steps). Leading NaNs that neither fill can reach take the
    training mean. Not invertible: ``inverse_transform`` returns its input.
    """

    def __init__(self, method: str = "interpolate", columns: Sequence[str] | None = None):
        if method not in ("interpolate", "ffill", "drop"):
            raise ValueError(f"FillMissing: method must be 'interpolate', 'ffill' or 'drop', got {method!r}")
        self.method, self.columns = method, columns

    def fit(self, frame: pd.DataFrame) -> FillMissing:
        self.columns_ = check_numeric_columns(frame, self.columns, "FillMissing")
        self.fallback_ = frame[self.columns_].mean()
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.method == "drop":
            return frame.dropna(subset=self.columns_)
        frame = frame.copy()
        values = frame[self.columns_]
        if self.method == "interpolate":
            how = "time" if isinstance(frame.index, pd.DatetimeIndex) else "linear"
            values = values.interpolate(method=how, limit_area="inside")
        frame[self.columns_] = values.ffill().fillna(self.fallback_)
        return frame

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame


class ClipOutliers:
    """Clip values outside bounds learned on the training split.

    ``method="iqr"``: ``[Q1 - k·IQR, Q3 + k·IQR]`` (Tukey's fences, ``threshold`` = k, default 1.5);
    ``method="zscore"``: ``[mean - k·std, mean + k·std]`` (``threshold`` default 3). Not invertible: clipped
    values are lost, ``inverse_transform`` returns its input.
    """

    def __init__(self, method: str = "iqr", threshold: float | None = None, columns: Sequence[str] | None = None):
        if method not in ("iqr", "zscore"):
            raise ValueError(f"ClipOutliers: method must be 'iqr' or 'zscore', got {method!r}")
        self.method, self.columns = method, columns
        self.threshold = threshold if threshold is not None else (1.5 if method == "iqr" else 3.0)

    def fit(self, frame: pd.DataFrame) -> ClipOutliers:
        self.columns_ = check_numeric_columns(frame, self.columns, "ClipOutliers")
        values, k = frame[self.columns_], self.threshold
        if self.method == "iqr":
            q1, q3 = values.quantile(0.25), values.quantile(0.75)
            self.lower_, self.upper_ = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        else:
            mean, std = values.mean(), values.std(ddof=0)
            self.lower_, self.upper_ = mean - k * std, mean + k * std
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[self.columns_] = frame[self.columns_].clip(self.lower_, self.upper_, axis=1)
        return frame

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame


_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


class Scale:
    """Scale each column with a scikit-learn scaler fitted on the training split (NaNs are ignored in fit, kept).

    ``kind``: ``"standard"`` (zero mean, unit variance), ``"minmax"`` (to [0, 1]) or ``"robust"`` (median, IQR).
    One scaler per column, so a single column — the forecasting target — inverts on its own for arrays of any
    shape (:meth:`inverse_column`).
    """

    def __init__(self, kind: str = "standard", columns: Sequence[str] | None = None):
        if kind not in _SCALERS:
            raise ValueError(f"Scale: kind must be one of {sorted(_SCALERS)}, got {kind!r}")
        self.kind, self.columns = kind, columns

    def fit(self, frame: pd.DataFrame) -> Scale:
        columns = check_numeric_columns(frame, self.columns, "Scale")
        self.scalers_ = {c: _SCALERS[self.kind]().fit(frame[[c]].to_numpy(np.float64)) for c in columns}
        return self

    def _apply(self, frame: pd.DataFrame, method: str) -> pd.DataFrame:
        frame = frame.copy()
        for column, scaler in self.scalers_.items():
            frame[column] = getattr(scaler, method)(frame[[column]].to_numpy(np.float64))[:, 0]
        return frame

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self._apply(frame, "transform")

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self._apply(frame, "inverse_transform")

    def transform_column(self, values: np.ndarray, column: str) -> np.ndarray:
        """Scale ``column``'s values given as an array of any shape; columns this step did not scale pass through."""
        return self._apply_column(values, column, "transform")

    def inverse_column(self, values: np.ndarray, column: str) -> np.ndarray:
        """Undo the scaling of ``column`` on an array of any shape; columns this step did not scale pass through."""
        return self._apply_column(values, column, "inverse_transform")

    def _apply_column(self, values: np.ndarray, column: str, method: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if column not in self.scalers_:
            return values
        return getattr(self.scalers_[column], method)(values.reshape(-1, 1)).reshape(values.shape)


class EncodeCategorical:
    """Encode categorical columns with the categories seen in the training split.

    ``mode="onehot"``: each column becomes float columns ``<column>=<category>`` (an unseen or missing category is
    all zeros). ``mode="index"``: integer codes ``1..K`` in sorted category order, ``0`` for unseen or missing,
    ready for an ``nn.Embedding(cardinality_[column], dim)``. Inverts back to the categories (``0``/all-zeros → NaN).
    """

    def __init__(self, columns: Sequence[str], mode: str = "onehot"):
        if mode not in ("onehot", "index"):
            raise ValueError(f"EncodeCategorical: mode must be 'onehot' or 'index', got {mode!r}")
        self.columns, self.mode = list(columns), mode

    def fit(self, frame: pd.DataFrame) -> EncodeCategorical:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"EncodeCategorical: columns {missing} are not in the frame; it has {list(frame.columns)}")
        self.categories_ = {c: sorted(frame[c].dropna().unique()) for c in self.columns}
        self.cardinality_ = {c: len(cats) + 1 for c, cats in self.categories_.items()}
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, categories in self.categories_.items():
            codes = pd.Index(categories).get_indexer(frame[column]) + 1  # -1 (unseen or NaN) becomes 0
            if self.mode == "index":
                frame[column] = codes.astype(np.int64)
                continue
            position = frame.columns.get_loc(column)
            onehot = {f"{column}={c}": (codes == i + 1).astype(np.float32) for i, c in enumerate(categories)}
            frame = frame.drop(columns=column)
            for offset, (name, values) in enumerate(onehot.items()):
                frame.insert(position + offset, name, values)
        return frame

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, categories in self.categories_.items():
            lookup = np.array([np.nan, *categories], dtype=object)
            if self.mode == "index":
                frame[column] = lookup[frame[column].to_numpy()]
                continue
            names = [f"{column}={c}" for c in categories]
            onehot = frame[names].to_numpy()
            codes = np.where(onehot.max(axis=1) > 0, onehot.argmax(axis=1) + 1, 0)
            position = frame.columns.get_loc(names[0])
            frame = frame.drop(columns=names)
            frame.insert(position, column, lookup[codes])
        return frame


# Period of each calendar feature for the sin/cos encoding (day of year and week averaged over leap years), and
# the DatetimeIndex attribute that reads it.
CALENDAR_FEATURES = {
    "hour": (24, "hour"),
    "dayofweek": (7, "day_of_week"),
    "day": (31, "day"),
    "dayofyear": (365.25, "day_of_year"),
    "week": (52.1775, None),  # ISO week: DatetimeIndex.isocalendar().week
    "month": (12, "month"),
    "quarter": (4, "quarter"),
}


class CalendarFeatures:
    """Add calendar features of the DatetimeIndex (or of the datetime column ``column``).

    ``cyclical=True`` adds ``<feature>_sin``/``<feature>_cos`` on the unit circle (December is next to January);
    ``False`` adds the integer value. Nothing is fitted; ``inverse_transform`` drops the added columns. Calendar
    features are known in advance, so they may serve as future covariates.
    """

    def __init__(self, features: Sequence[str] = ("month",), cyclical: bool = True, column: str | None = None):
        unknown = [f for f in features if f not in CALENDAR_FEATURES]
        if unknown:
            raise ValueError(f"CalendarFeatures: unknown features {unknown}; choose from {list(CALENDAR_FEATURES)}")
        self.features, self.cyclical, self.column = list(features), cyclical, column

    def fit(self, frame: pd.DataFrame) -> CalendarFeatures:
        self._times(frame)
        suffixes = ("_sin", "_cos") if self.cyclical else ("",)
        self.added_columns_ = [f + s for f in self.features for s in suffixes]
        return self

    def _times(self, frame: pd.DataFrame) -> pd.DatetimeIndex:
        times = frame.index if self.column is None else pd.DatetimeIndex(frame[self.column])
        if not isinstance(times, pd.DatetimeIndex):
            where = "the index" if self.column is None else f"column {self.column!r}"
            raise TypeError(f"CalendarFeatures: {where} must hold datetimes, got {type(times).__name__}")
        return times

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        times, frame = self._times(frame), frame.copy()
        for feature in self.features:
            period, attribute = CALENDAR_FEATURES[feature]
            value = np.asarray(times.isocalendar().week if attribute is None else getattr(times, attribute), np.float64)
            if not self.cyclical:
                frame[feature] = value.astype(np.int64)
                continue
            angle = 2 * np.pi * value / period
            frame[f"{feature}_sin"], frame[f"{feature}_cos"] = np.sin(angle), np.cos(angle)
        return frame

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=self.added_columns_)


class Pipeline:
    """Steps applied in order around one numeric forecasting ``target`` column.

    ``fit`` fits each step on the training frame as transformed by the steps before it;
    ``inverse_transform_target`` maps model outputs in prepared units back to the target's original units.
    """

    def __init__(self, target: str, steps: Sequence = ()):
        self.target, self.steps = target, list(steps)

    def fit(self, train: pd.DataFrame) -> Pipeline:
        if self.target not in train.columns:
            raise KeyError(f"Pipeline: target column {self.target!r} is not in the frame; it has {list(train.columns)}")
        check_numeric_columns(train, [self.target], "Pipeline target")
        for step in self.steps:
            train = step.fit(train).transform(train)
        self.columns_ = list(train.columns)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        for step in self.steps:
            frame = step.transform(frame)
        return frame

    def fit_transform(self, train: pd.DataFrame) -> pd.DataFrame:
        return self.fit(train).transform(train)

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        for step in reversed(self.steps):
            frame = step.inverse_transform(frame)
        return frame

    def transform_target(self, values) -> np.ndarray:
        """Target values of any shape, in original units → prepared units (float64)."""
        values = np.asarray(values, dtype=np.float64)
        for step in self.steps:
            if hasattr(step, "transform_column"):  # the steps that change values column by column, reversibly
                values = step.transform_column(values, self.target)
        return values

    def inverse_transform_target(self, values) -> np.ndarray:
        """Target values of any shape, in prepared units → original units (float64)."""
        values = np.asarray(values, dtype=np.float64)
        for step in reversed(self.steps):
            if hasattr(step, "inverse_column"):
                values = step.inverse_column(values, self.target)
        return values
