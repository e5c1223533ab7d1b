"""What the per-step savings must not change: batches drawn by index from in-memory tensors equal the per-sample
DataLoader's (also resumed mid-epoch), the tensor-side inversion of the target scaling equals scikit-learn's, and
the gradient norm logged at intervals equals the total norm computed by torch at those steps."""

from __future__ import annotations

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import QUIET, compose_config
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from torch.utils.data import DataLoader, TensorDataset

from lstmkit.data.forecasting import ForecastDataModule
from lstmkit.data.resumable import EpochSeededSampler, InMemoryDataset, ResumableDataModule
from lstmkit.train import run


class Tensors(ResumableDataModule):
    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int) -> None:
        super().__init__(batch_size=batch_size)
        self.datasets = {"train": InMemoryDataset(*tensors), "val": InMemoryDataset(*tensors)}


def tensors(n: int = 53) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, 7, 3, generator=generator), torch.arange(n), torch.randn(n, 2, generator=generator)


@pytest.mark.parametrize("split", ["train", "val"])
def test_in_memory_batches_equal_per_sample_collated_batches(split):
    data = tensors()
    module = Tensors(data, batch_size=8)
    torch.manual_seed(3)
    loader = module.train_dataloader() if split == "train" else module.val_dataloader()
    sampler = EpochSeededSampler(len(data[0]), seed=3) if split == "train" else None
    reference = DataLoader(TensorDataset(*data), batch_size=8, sampler=sampler)  # per-item reads + default_collate
    got, expected = list(loader), list(reference)
    assert len(got) == len(expected) == 7  # 53 samples: 6 full batches and one of 5
    for batch, ref in zip(got, expected):
        assert len(batch) == 3
        for tensor, ref_tensor in zip(batch, ref):
            assert tensor.dtype == ref_tensor.dtype
            torch.testing.assert_close(tensor, ref_tensor, rtol=0, atol=0)


def test_in_memory_batches_resume_mid_epoch():
    data = tensors()
    module = Tensors(data, batch_size=8)
    module.load_state_dict({"epoch": 2, "samples_done": 3 * 8})
    loader = module.train_dataloader()
    loader.sampler.set_epoch(2)
    order = torch.randperm(53, generator=torch.Generator().manual_seed(loader.sampler.seed + 2))
    remaining = [b[1] for b in loader]  # the sample ids of the batches after the first three
    torch.testing.assert_close(torch.cat(remaining), order[24:])
    assert [len(b) for b in remaining] == [8, 8, 8, 5]


@pytest.mark.parametrize(("scaler", "reference"), [("standard", StandardScaler), ("minmax", MinMaxScaler),
                                                   ("robust", RobustScaler)])
def test_inverse_transform_equals_the_scalers_inverse(scaler, reference):
    dm = ForecastDataModule(series="sine", input_length=5, scaler=scaler, val_fraction=0.1, test_fraction=0.2)
    dm.setup()
    train_rows = dm.target_series[: dm.fit_end].reshape(-1, 1)
    fitted = reference().fit(train_rows)
    scaled = torch.linspace(-3, 3, 24, dtype=torch.float32).view(2, 3, 4)
    expected = fitted.inverse_transform(scaled.double().numpy().reshape(-1, 1)).reshape(2, 3, 4)
    got = dm.inverse_transform(scaled)
    assert got.dtype == torch.float32 and got.shape == (2, 3, 4)
    np.testing.assert_allclose(got.numpy(), expected.astype(np.float32), rtol=1e-6)


NORMS: dict[int, float] = {}  # global step -> total gradient 2-norm, recorded by RecordNorms


class RecordNorms(L.Callback):
    """Total 2-norm of the gradients before every optimizer step, computed here from each parameter's norm."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        norms = torch.stack([p.grad.double().norm() for p in pl_module.parameters() if p.grad is not None])
        NORMS[trainer.global_step] = float(norms.norm())


def test_grad_norm_is_logged_every_log_every_n_steps_with_the_total_norm(tmp_path):
    NORMS.clear()
    cfg = compose_config("train", [*QUIET, "logger=csv", "trainer.max_epochs=2", "trainer.log_every_n_steps=3",
                                   "model.net.hidden_size=8", "test=false",
                                   f"+callbacks.norms._target_={__name__}.RecordNorms"], tmp_path)
    run(cfg)
    rows = pd.read_csv(tmp_path / "csv" / "metrics.csv").dropna(subset=["train/grad_norm"])
    assert len(NORMS) == 14  # 7 batches per epoch
    assert list(rows["step"]) == [s for s in sorted(NORMS) if (s + 1) % 3 == 0]
    np.testing.assert_allclose(rows["train/grad_norm"], [NORMS[s] for s in rows["step"]], rtol=1e-5)
