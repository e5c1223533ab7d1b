"""Regression and direct multi-step forecasting: ``net(x) -> (B, outputs)`` against ``y (B, outputs)``.

The loss is computed on the scaled values the network sees; metrics are in the data's original units when
the datamodule has ``inverse_transform`` (e.g. sunspot numbers), so they compare across scalers and baselines.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from lstmkit.tasks.base import Task, new_figure

LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class RegressionTask(Task):
    """Batches are ``(x, y)``; metrics ``mse``, ``rmse``, ``mae``, ``r2`` over all outputs, in original units.

    Args:
        loss: ``"mse"``, ``"mae"`` or ``"huber"``, on scaled values.
        media_samples: at most this many points in the logged prediction-vs-target figure.
        **task_args: see :class:`lstmkit.tasks.base.Task` (``net``, ``optimizer``, ``scheduler``, …).
    """

    def __init__(self, *, loss: str = "mse", best_metric: str = "val/mae", media_samples: int = 200,
                 **task_args: Any) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss: expected one of {sorted(LOSSES)}, got {loss!r}")
        super().__init__(best_metric=best_metric, **task_args)
        self._media_points: dict[str, list[tuple[Tensor, Tensor]]] = {"val": [], "test": []}

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"mse": MeanSquaredError(), "rmse": MeanSquaredError(squared=False),
                                 "mae": MeanAbsoluteError(), "r2": R2Score()})

    def to_original_units(self, values: Tensor) -> Tensor:
        datamodule = getattr(self._trainer, "datamodule", None)
        inverse = getattr(datamodule, "inverse_transform", None)
        return inverse(values) if inverse is not None else values

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch
        preds = self(x)
        loss = LOSSES[self.hparams.loss](preds, y)
        return loss, self.to_original_units(preds).flatten(), self.to_original_units(y).flatten()

    def on_validation_batch_end(self, outputs: dict[str, Tensor], batch: Any, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        self._keep_media_points("val", outputs)

    def on_test_batch_end(self, outputs: dict[str, Tensor], batch: Any, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        self._keep_media_points("test", outputs)

    def _keep_media_points(self, stage: str, outputs: dict[str, Tensor]) -> None:
        kept = sum(len(preds) for preds, _ in self._media_points[stage])
        if self.tensorboard is not None and kept < self.hparams.media_samples:
            self._media_points[stage].append((outputs["preds"].cpu(), outputs["target"].cpu()))

    def log_media(self, stage: str) -> None:
        points, self._media_points[stage] = self._media_points[stage], []
        figure = new_figure(figsize=(8, 3), layout="tight") if points else None
        if figure is None:
            return
        preds, target = (torch.cat(t)[: self.hparams.media_samples] for t in zip(*points))
        axes = figure.add_subplot()
        axes.plot(target.numpy(), label="target")
        axes.plot(preds.numpy(), label="prediction")
        axes.set_xlabel(f"{stage} sample (dataset order)")
        axes.legend()
        self.log_figure(f"{stage}/prediction_vs_target", figure)

    def on_validation_epoch_start(self) -> None:
        self._media_points["val"] = []
