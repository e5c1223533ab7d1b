"""Forecasting DataModule: a named series → gap filling → (optional injected anomalies) → prep pipeline → windows.

Order of work in :meth:`ForecastDataModule.setup`, each fitted step fitted on the training rows only:

1. load the series (:mod:`lstmkit.data.series`) and cut it chronologically (or at ``split_positions``, which is
   how rolling-origin folds arrive) into train/val/test — or, with ``sample_fold``, split its windows k-fold;
2. fill missing values (:class:`~lstmkit.data.prep.FillMissing`);
3. with ``anomalies``, inject labelled anomalies into the target's validation and test rows
   (:func:`~lstmkit.forecast.anomaly.inject_anomalies`); the training rows stay clean;
4. the :class:`~lstmkit.data.prep.Pipeline`: clip outliers of the past covariates (never the target, so every
   model is scored against the observed values), add calendar features (known ahead: future covariates),
   scale the target and past covariates;
5. window with :func:`~lstmkit.data.windowing.make_windows` (its docstring states the leakage rule).

Batches are ``(x, future, y)``: ``x (B, input_length, 1 + len(past_covariates))`` with the target first,
``future (B, horizon, len(future columns))`` and ``y (B, horizon)``, float32, scaled. :meth:`inverse_transform`
maps scaled target values back to original units; :attr:`target_series` is the target in original units (after
filling and injection), which baselines and the final scoring read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lstmkit.data.prep import CalendarFeatures, ClipOutliers, FillMissing, Pipeline, Scale
from lstmkit.data.resumable import InMemoryDataset, ResumableDataModule
from lstmkit.data.series import load_series
from lstmkit.data.windowing import SPLITS, SplitPoints, chronological_split, make_windows, windows_at
from lstmkit.forecast.anomaly import inject_anomalies
from lstmkit.forecast.cv import kfold_indices


class ForecastDataModule(ResumableDataModule):
    """Windows of a prepared series for forecasting and forecast-based anomaly detection.

    Args:
        series: a name of :data:`lstmkit.data.series.SERIES`.
        target: the column to forecast (default: the first column).
        past_covariates: columns observed with the target, fed as inputs.
        calendar: calendar features (:class:`~lstmkit.data.prep.CalendarFeatures`) given for the target steps.
        input_length, horizon: steps of history per sample, steps forecast per sample.
        season: seasonal period in steps, for the seasonal naive baseline and MASE.
        val_fraction, test_fraction: shares of the rows whose values are validation and test targets.
        split_positions: ``[val_start, test_start, end]`` row positions instead of the fractions (a rolling-origin
            CV fold).
        sample_fold: ``[fold, folds, seed]``: k-fold over windows taken as i.i.d. samples instead of chronological
            splits (sequence-regression tasks; windows of different splits then share rows, so it is no test of
            forecasting). Prep steps are fitted on the rows the training windows read; no SARIMAX baseline.
        fill: ``"interpolate"``, ``"ffill"``, ``"drop"`` or ``None`` (the series has no gaps).
        clip: ``"iqr"``, ``"zscore"`` or ``None``: outlier clipping of the past covariates.
        scaler: ``"standard"``, ``"minmax"`` or ``"robust"``.
        anomalies: arguments of :func:`~lstmkit.forecast.anomaly.inject_anomalies` (``seed``, ``spikes``, …),
            or ``None`` for the clean series.
        batch_size, num_workers, pin_memory: see :class:`~lstmkit.data.resumable.ResumableDataModule`.
    """

    def __init__(
        self,
        series: str = "sunspots",
        target: str | None = None,
        past_covariates: Sequence[str] = (),
        calendar: Sequence[str] = (),
        input_length: int = 24,
        horizon: int = 1,
        season: int = 1,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_positions: Sequence[int] | None = None,
        sample_fold: Sequence[int] | None = None,
        fill: str | None = "interpolate",
        clip: str | None = None,
        scaler: str = "standard",
        anomalies: Mapping[str, Any] | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        self.series, self.target = series, target
        self.past_covariates, self.calendar = list(past_covariates), list(calendar)
        self.input_length, self.horizon, self.season = input_length, horizon, season
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_positions = None if split_positions is None else list(split_positions)
        self.sample_fold = None if sample_fold is None else list(sample_fold)
        self.fill, self.clip, self.scaler = fill, clip, scaler
        self.anomalies = dict(anomalies) if anomalies else None

    @property
    def input_size(self) -> int:
        return 1 + len(self.past_covariates)

    @property
    def future_size(self) -> int:
        return 2 * len(self.calendar)  # a sin and a cos column per calendar feature

    def prepare_data(self) -> None:
        load_series(self.series)  # fail early, on one process, if the data package is missing

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        frame = load_series(self.series)
        target = self.target = self.target or frame.columns[0]
        if self.sample_fold is None:
            if self.split_positions is None:
                splits = chronological_split(frame.index, self.val_fraction, self.test_fraction)
            else:
                splits = SplitPoints.from_positions(frame.index, *self.split_positions)
            train_rows = splits.train_rows
        else:
            if self.fill == "drop" or self.anomalies is not None:
                raise ValueError(
                    "sample_fold (k-fold over windows) works with fill='interpolate'/'ffill'/null and no anomalies"
                )
            origins = self._sample_fold_origins(len(frame))
            steps = np.arange(-self.input_length, self.horizon)
            touched = np.zeros(len(frame), dtype=bool)
            touched[(origins["train"][:, None] + steps).ravel()] = True
            train_rows = lambda rows: rows[touched]
        if self.fill is not None:
            frame = FillMissing(self.fill).fit(train_rows(frame)).transform(frame)
        # rows a classical model may be fitted on: those before the validation split (None for k-fold)
        self.fit_end = splits.positions(frame.index)[0] if self.sample_fold is None else None
        self.anomaly_labels = np.zeros(len(frame), dtype=bool)
        if self.anomalies is not None:
            _, _, end = splits.positions(frame.index)
            injected = inject_anomalies(frame[target].to_numpy(), start=self.fit_end, stop=end, **self.anomalies)
            frame = frame.assign(**{target: injected.values})
            self.anomaly_labels, self.injected = injected.labels, injected.anomalies

        steps = [ClipOutliers(self.clip, columns=self.past_covariates)] if self.clip and self.past_covariates else []
        steps += [CalendarFeatures(self.calendar)] if self.calendar else []
        steps += [Scale(self.scaler, columns=[target, *self.past_covariates])]
        self.pipeline = Pipeline(target, steps).fit(train_rows(frame))
        # Scale is the only step that changes target values, and it is affine, so inverting a batch of forecasts
        # (every step, for the metrics) is one multiply-add on tensors: original = scaled * scale + offset
        offset, one = self.pipeline.inverse_transform_target([0.0, 1.0])
        self._target_affine = (float(one - offset), float(offset))
        prepared = self.pipeline.transform(frame)
        self.future_columns = [f"{feature}_{part}" for feature in self.calendar for part in ("sin", "cos")]
        self.index, self.target_series, self.prepared = frame.index, frame[target].to_numpy(np.float64), prepared
        window_args = (self.input_length, self.horizon, self.past_covariates, self.future_columns)
        if self.sample_fold is None:
            self.windows = make_windows(prepared, target, *window_args[:2], splits, *window_args[2:])
        else:
            self.windows = {split: windows_at(prepared, target, origins[split], *window_args) for split in SPLITS}
        for split in SPLITS:
            w = self.windows[split]
            self.datasets[split] = InMemoryDataset(*map(torch.from_numpy, (w.inputs, w.future, w.targets)))

    def _sample_fold_origins(self, rows: int) -> dict[str, np.ndarray]:
        """Window origins of each split for k-fold over windows taken as i.i.d. samples: the test windows are
        the fold's, the validation windows a seeded ``val_fraction`` of the others."""
        fold, folds, seed = self.sample_fold
        origins = np.arange(self.input_length, rows - self.horizon + 1)
        train, test = kfold_indices(len(origins), folds, seed=seed)[fold]
        train = np.random.default_rng(seed).permutation(train)
        n_val = round(self.val_fraction * len(train))
        return {"train": np.sort(origins[train[n_val:]]), "val": np.sort(origins[train[:n_val]]), "test": origins[test]}

    def inverse_transform(self, values: Tensor) -> Tensor:
        """Scaled target values of any shape → original units, computed in float64 on ``values``' device and
        returned in its dtype (what :meth:`Pipeline.inverse_transform_target` gives, without a host round trip)."""
        scale, offset = self._target_affine
        return (values.detach().double() * scale + offset).to(values.dtype)

    def actuals(self, split: str) -> np.ndarray:
        """``(N, horizon)`` target values of the split's windows, in original units (float64)."""
        return self.target_series[self.windows[split].origins[:, None] + np.arange(self.horizon)]
