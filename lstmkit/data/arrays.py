"""Arrays (NumPy, tensors, DataFrames) as a datamodule, as in the Keras examples' ``model.fit(x, y)``.

:class:`ArrayDataModule` serves ``x (N, T, F)`` (or ``(N, T)``: one feature per step) with targets ``y``:

- integer (or string) ``y (N,)`` → **classification** batches ``(x, lengths, labels)`` for
  :class:`~lstmkit.tasks.series_classification.SeriesFileClassificationTask` (classes and the input size come from
  the data: ``vocabularies()`` gives ``classes`` and ``features``);
- float ``y (N,)`` or ``(N, H)`` → **regression** batches ``(x, future, y)`` (``future (N, H, 0)``) for
  :class:`~lstmkit.tasks.forecasting.ForecastTask` with ``net.horizon = H`` (no baselines: the rows need not be
  windows of one series).

No scaling is applied (scale ``x`` yourself, fitted on the training rows). Without ``x_val`` the last
``val_fraction`` of the training rows validate (Keras' ``validation_split``); without ``x_test`` testing uses the
validation rows. :func:`predict_arrays` runs a trained task on new arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from lstmkit.data.resumable import InMemoryDataset, ResumableDataModule

__all__ = ["ArrayDataModule", "predict_arrays"]


def _inputs(x: Any, name: str) -> Tensor:
    """``(N, T, F)`` float32 from an array, tensor or DataFrame of 2 or 3 dimensions."""
    values = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if values.dim() == 2:
        values = values.unsqueeze(-1)
    if values.dim() != 3 or values.shape[1] == 0:
        raise ValueError(f"{name}: expected (samples, steps) or (samples, steps, features), got shape "
                         f"{tuple(values.shape)}")
    if not torch.isfinite(values).all():
        raise ValueError(f"{name}: holds NaN or infinite values")
    return values


class ArrayDataModule(ResumableDataModule):
    """Args:
        x_train, y_train: inputs ``(N, T[, F])`` and targets (module docstring); x_val, y_val, x_test, y_test: the
            same for validation and test.
        val_fraction: the last share of the training rows held out when ``x_val`` is not given.
        task: ``"auto"`` (integer or string ``y``: classification, float: regression), ``"classification"`` or
            ``"regression"``.
        batch_size, num_workers, pin_memory: see :class:`~lstmkit.data.resumable.ResumableDataModule`.
    """

    def __init__(self, x_train, y_train, x_val=None, y_val=None, x_test=None, y_test=None, val_fraction: float = 0.1,
                 task: str = "auto", batch_size: int = 32, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        y_train = np.asarray(y_train)
        if task == "auto":
            task = "regression" if np.issubdtype(y_train.dtype, np.floating) else "classification"
        if task not in ("classification", "regression"):
            raise ValueError(f"task: expected 'auto', 'classification' or 'regression', got {task!r}")
        self.task = task
        parts = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
        for split, (x, y) in parts.items():
            if (x is None) != (y is None):
                raise ValueError(f"x_{split} and y_{split}: give both or neither")
        if x_val is None:
            n = len(y_train)
            cut = n - max(1, round(val_fraction * n))
            parts["val"] = (np.asarray(x_train)[cut:], y_train[cut:])
            parts["train"] = (np.asarray(x_train)[:cut], y_train[:cut])
        if x_test is None:
            parts["test"] = parts["val"]
        if task == "classification":
            self.classes = sorted({str(v) for v in y_train.tolist()})
        self.arrays = {split: self._tensors(split, x, y) for split, (x, y) in parts.items()}
        self.datasets = {split: InMemoryDataset(*tensors) for split, tensors in self.arrays.items()}

    def _tensors(self, split: str, x: Any, y: Any) -> tuple[Tensor, ...]:
        inputs, y = _inputs(x, f"x_{split}"), np.asarray(y)
        if len(y) != len(inputs):
            raise ValueError(f"y_{split}: expected {len(inputs)} targets (one per row of x_{split}), got {len(y)}")
        if self.task == "classification":
            unknown = sorted({str(v) for v in y.tolist()} - set(self.classes))
            if unknown:
                raise ValueError(f"y_{split}: classes {unknown} do not occur in y_train")
            labels = torch.tensor([self.classes.index(str(v)) for v in y.tolist()])
            return inputs, torch.full((len(inputs),), inputs.shape[1], dtype=torch.long), labels
        targets = torch.as_tensor(y.astype(np.float32)).reshape(len(inputs), -1)  # (N, H)
        return inputs, torch.zeros(len(inputs), targets.shape[1], 0), targets

    @property
    def input_size(self) -> int:
        return self.arrays["train"][0].shape[-1]

    @property
    def horizon(self) -> int:
        return self.arrays["train"][2].shape[1]

    future_size = 0

    def vocabularies(self) -> dict[str, list[str]]:
        return {"classes": self.classes, "features": [f"x{i}" for i in range(self.input_size)]}

    def inverse_transform(self, values: Tensor) -> Tensor:
        """Identity: no scaling is applied."""
        return values


def predict_arrays(task, x, batch_size: int = 256) -> np.ndarray:
    """A trained task on new inputs ``x (N, T[, F])``: class probabilities ``(N, C)`` for a classification task,
    forecasts ``(N, H)`` (``(N, H, Q)`` for quantile models) for a :class:`~lstmkit.tasks.forecasting.ForecastTask`
    (whose network, a forecaster, has a ``future_size``)."""
    inputs, outputs = _inputs(x, "x"), []
    task.eval()
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start : start + batch_size].to(task.device)
            if hasattr(task.net, "future_size"):
                out = task.net(batch, batch.new_zeros(len(batch), task.net.horizon, 0))  # (B, H, outputs)
                outputs.append(out[..., 0] if out.shape[-1] == 1 else out)
            else:
                lengths = torch.full((len(batch),), batch.shape[1], dtype=torch.long)
                outputs.append(task.net(batch, lengths).softmax(-1))
    return torch.cat(outputs).double().cpu().numpy()
