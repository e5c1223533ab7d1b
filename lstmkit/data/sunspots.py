"""Yearly sunspot numbers 1700-2008 (309 values, shipped offline by statsmodels), windowed for forecasting.

A deliberately small module for the framework's default experiment; richer preparation (missing values,
outliers, covariates, several scalers) lives in :mod:`lstmkit.data.prep` and :mod:`lstmkit.data.windowing`.

Split rule (no leakage): the years are cut chronologically into train, val and test; a window belongs to the
split that holds all of its target years, and its inputs may reach back into earlier splits (values already
observed when the forecast is made). Scaling statistics come from the training years only; metrics are
reported in sunspot numbers through :meth:`SunspotsDataModule.inverse_transform`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from lstmkit.data.resumable import ResumableDataModule
from lstmkit.utils.imports import require

SPLITS = ("train", "val", "test")


def load_sunspots() -> np.ndarray:
    """The yearly series as float64 ``(309,)``, oldest first."""
    sm = require("statsmodels.api", extra="data", purpose="the sunspots data module")
    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)


class SunspotsDataModule(ResumableDataModule):
    """Windows of ``input_length`` past years -> the next ``horizon`` years, standard-scaled on train years.

    Batches are ``(x, y)``: ``x`` ``(B, input_length, 1)`` and ``y`` ``(B, horizon)``, float32, scaled.

    Args:
        input_length: years of history per sample.
        horizon: years forecast per sample (direct multi-step output).
        val_fraction, test_fraction: shares of the years whose values are validation and test targets.
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
    """

    def __init__(self, input_length: int = 24, horizon: int = 1, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, batch_size: int = 32, num_workers: int = 0,
                 pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        if input_length < 1 or horizon < 1:
            raise ValueError(f"input_length and horizon must be >= 1, got {input_length} and {horizon}")
        if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
            raise ValueError(f"val_fraction={val_fraction}, test_fraction={test_fraction}: expected "
                             "positive fractions that leave years for training")
        self.input_length, self.horizon = input_length, horizon
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.mean = self.std = None
        self.datasets: dict[str, TensorDataset] = {}

    def prepare_data(self) -> None:
        load_sunspots()  # fail early, on one process, if statsmodels is missing

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        series = load_sunspots()
        n = len(series)
        test_start = n - round(self.test_fraction * n)
        val_start = test_start - round(self.val_fraction * n)
        train = series[:val_start]
        self.mean, self.std = float(train.mean()), float(train.std())
        scaled = torch.from_numpy((series - self.mean) / self.std).float()
        bounds = {"train": (self.input_length, val_start), "val": (val_start, test_start), "test": (test_start, n)}
        for split, (first, stop) in bounds.items():
            # origins o: inputs [o - input_length, o), targets [o, o + horizon) all inside [first, stop)
            origins = torch.arange(max(first, self.input_length), stop - self.horizon + 1)
            if len(origins) == 0:
                raise ValueError(f"the {split} split has no complete window: {stop - first} years for "
                                 f"input_length={self.input_length}, horizon={self.horizon}")
            x = torch.stack([scaled[o - self.input_length:o] for o in origins]).unsqueeze(-1)
            y = torch.stack([scaled[o:o + self.horizon] for o in origins])
            self.datasets[split] = TensorDataset(x, y)

    def inverse_transform(self, values: Tensor) -> Tensor:
        """Scaled values -> sunspot numbers."""
        return values * self.std + self.mean

    def train_dataloader(self):
        return self.train_loader(self.datasets["train"])

    def val_dataloader(self):
        return self.eval_loader(self.datasets["val"])

    def test_dataloader(self):
        return self.eval_loader(self.datasets["test"])

    def predict_dataloader(self):
        return self.eval_loader(self.datasets["test"])
