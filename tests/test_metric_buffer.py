"""Batched metric updates give the metrics of per-step updates, flush whenever batches cannot be joined, and a
checkpoint taken mid-epoch holds every step so far; the sparse progress bar updates at its redraws only."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.regression import MeanAbsoluteError, R2Score, SymmetricMeanAbsolutePercentageError

from lstmkit.tasks.base import Task
from lstmkit.tasks.metric_buffer import MetricBuffer
from lstmkit.utils.progress import SparseRichProgressBar


def regression() -> MetricCollection:
    return MetricCollection({"mse": MeanSquaredError(), "rmse": MeanSquaredError(squared=False),
                             "mae": MeanAbsoluteError(), "smape": SymmetricMeanAbsolutePercentageError(),
                             "r2": R2Score()})


def classification() -> MetricCollection:
    return MetricCollection({"accuracy": MulticlassAccuracy(5, average="micro"),
                             "f1": MulticlassF1Score(5, average="macro")})


def batches(kind: str, sizes: list[int]):
    generator = torch.Generator().manual_seed(0)
    for size in sizes:
        if kind == "regression":
            target = torch.randn(size, generator=generator)
            yield torch.rand(()), target + 0.3 * torch.randn(size, generator=generator), target
        else:
            yield torch.rand(()), torch.randn(size, 5, generator=generator), torch.randint(0, 5, (size,),
                                                                                           generator=generator)


@pytest.mark.parametrize("kind", ["regression", "classification"])
@pytest.mark.parametrize("max_steps", [1, 3, 32])
def test_buffered_updates_give_the_metrics_of_per_step_updates(kind, max_steps):
    make = regression if kind == "regression" else classification
    sizes = [32] * 7 + [5]  # a short last batch
    loss, metrics = MeanMetric(), make()
    buffer = MetricBuffer(loss, metrics, max_steps=max_steps)
    ref_loss, ref_metrics = MeanMetric(), make()  # torchmetrics updated once per step, as without the buffer
    for value, preds, target in batches(kind, sizes):
        buffer.update(value, target.shape[0], preds, target)
        ref_loss.update(value, weight=target.shape[0])
        ref_metrics.update(preds, target)
    buffer.flush()
    torch.testing.assert_close(loss.compute(), ref_loss.compute(), rtol=1e-6, atol=0)
    got, expected = metrics.compute(), ref_metrics.compute()
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-7)


def test_batches_that_cannot_be_joined_are_flushed_first_and_large_ones_go_straight_through():
    seen: list[tuple[int, ...]] = []

    class Shapes(MeanSquaredError):  # records the shape of every update it receives
        def update(self, preds, target) -> None:
            seen.append(tuple(preds.shape))
            super().update(preds, target)

    buffer = MetricBuffer(MeanMetric(), MetricCollection({"mse": Shapes()}), max_steps=8, max_elements=100)
    three, two = torch.ones(4, 3), torch.ones(4, 2)
    for preds in (three, three, two, torch.ones(60, 2)):
        buffer.update(torch.tensor(0.5), 4, preds, torch.zeros_like(preds))
    # the (4, 2) batch cannot join the (4, 3) ones; (4, 2) + (60, 2) reach 128 >= 100 elements
    assert seen == [(8, 3), (64, 2)]
    assert not buffer.losses
    with pytest.raises(ValueError, match="max_steps"):
        MetricBuffer(MeanMetric(), MetricCollection({"mse": MeanSquaredError()}), max_steps=0)


class Regression(Task):
    """A linear model whose every training (preds, target) is also kept here in float64, as the reference."""

    def __init__(self) -> None:
        super().__init__(net=torch.nn.Linear(3, 1), optimizer=functools.partial(torch.optim.SGD, lr=0.01),
                         media_every_n_epochs=0)
        self.seen: list[tuple[torch.Tensor, torch.Tensor, float]] = []

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"mse": MeanSquaredError()})

    def step(self, batch):
        x, y = batch
        preds = self.net(x)[:, 0]
        loss = torch.nn.functional.mse_loss(preds, y)
        self.seen.append((preds.detach().double(), y.double(), float(loss)))
        return loss, preds, y


class StateAtStep(L.Callback):
    def __init__(self, step: int) -> None:
        self.step, self.state, self.reference = step, None, None

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == self.step:  # mid-epoch: 5 of 9 batches done, fewer than a buffer's 32 steps
            self.state = {k: v.clone() for k, v in pl_module.state_dict().items() if k.startswith("train_")}
            self.reference = list(pl_module.seen)


def test_a_mid_epoch_state_dict_holds_every_step_so_far(tmp_path):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(70, 3, generator=generator)
    data = DataLoader(TensorDataset(x, x.sum(1) + 0.1 * torch.randn(70, generator=generator)), batch_size=8)
    probe = StateAtStep(5)
    trainer = L.Trainer(max_steps=5, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[probe], default_root_dir=tmp_path)
    trainer.fit(Regression(), train_dataloaders=data)
    preds = torch.cat([p for p, _, _ in probe.reference])
    target = torch.cat([t for _, t, _ in probe.reference])
    sizes = [len(t) for _, t, _ in probe.reference]
    assert len(sizes) == 5
    state = probe.state
    squared = state["train_metrics.mse.sum_squared_error"].double().sum()
    torch.testing.assert_close(squared, ((preds - target) ** 2).sum(), rtol=1e-5, atol=0)
    assert int(state["train_metrics.mse.total"].sum()) == sum(sizes)
    weighted = sum(loss * n for (_, _, loss), n in zip(probe.reference, sizes))
    torch.testing.assert_close(state["train_loss.mean_value"].double().sum(),
                               torch.tensor(weighted, dtype=torch.float64), rtol=1e-5, atol=0)
    assert float(state["train_loss.weight"].sum()) == sum(sizes)


def test_sparse_progress_bar_updates_at_its_redraws_and_the_last_batch(tmp_path, monkeypatch):
    updated: list[int] = []
    real = RichProgressBar.on_train_batch_end

    def record(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        updated.append(batch_idx + 1)
        real(self, trainer, pl_module, outputs, batch, batch_idx)

    monkeypatch.setattr(RichProgressBar, "on_train_batch_end", record)
    x = torch.randn(23 * 2, 3)
    data = DataLoader(TensorDataset(x, x.sum(1)), batch_size=2)  # 23 batches
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[SparseRichProgressBar(refresh_rate=10)], default_root_dir=tmp_path)
    trainer.fit(Regression(), train_dataloaders=data)
    assert updated == [10, 20, 23]
