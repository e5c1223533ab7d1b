"""A LightningDataModule base whose training loader can restart part-way through an epoch.

Written by hand because neither library covers it: a plain ``DataLoader`` restarts the epoch from its first
batch with a new shuffle, and Lightning's stateful-loader protocol records batches the loader has *yielded*,
which includes the batch Lightning has prefetched but not trained on. Here the position comes from
Lightning's own count of processed batches, and the order of each epoch is a pure function of
``(seed, epoch)`` — the same contract as ``DistributedSampler`` — so a resumed run sees exactly the batches
an uninterrupted run would.

Data held in memory as tensors goes into an :class:`InMemoryDataset`: its loaders read a batch with one indexing
per tensor, instead of reading samples one by one and collating them (for batches of 32 small windows that was
most of the data time of a training step).

Subclasses build their datasets in ``setup()`` into ``self.datasets`` (``{"train": …, "val": …, "test": …}``
and optionally ``"predict"``); the default ``*_dataloader`` methods serve them through :meth:`train_loader` (shuffled,
resumable) and :meth:`eval_loader` (in order). A subclass with other needs overrides a loader method and still calls
:meth:`train_loader` / :meth:`eval_loader`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset


class InMemoryDataset(TensorDataset):
    """A ``TensorDataset`` (sample ``i`` is ``tuple(t[i] for t in tensors)``) that serves a whole batch at once:
    ``DataLoader`` calls ``__getitems__`` with the batch's indices, which returns the batch already stacked, so its
    loaders pass ``collate_fn=keep_batch`` (the loaders of :class:`ResumableDataModule` do)."""

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)  # (B,)
        return tuple(tensor[index] for tensor in self.tensors)


def keep_batch(batch: Any) -> Any:
    """The ``collate_fn`` for an :class:`InMemoryDataset`: its batches come stacked already."""
    return batch


class EpochSeededSampler(Sampler[int]):
    """Random order drawn from ``seed + epoch`` alone; ``start_at={epoch: n}`` skips the first ``n`` indices
    of that epoch once (the part trained before a restart)."""

    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0
        self.start_at: dict[int, int] = {}

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before each training epoch
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        return iter(order[self.start_at.pop(self.epoch, 0):])

    def __len__(self) -> int:  # the full epoch: Lightning counts the skipped batches as already done
        return self.num_samples


class ResumableDataModule(L.LightningDataModule):
    """Base for DataModules: shuffled training loader with exact mid-epoch resume, plain eval loaders, and default
    loaders over ``self.datasets`` (filled by the subclass's ``setup()``; ``predict`` falls back to ``test``).

    Args:
        batch_size: samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process: best for small data).
        pin_memory: pin host memory for faster copies to a GPU.
    """

    def __init__(self, batch_size: int = 32, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__()
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self._sampler: EpochSeededSampler | None = None
        self._resume_at: tuple[int, int] | None = None  # (epoch, samples already trained in it)
        self.datasets: dict[str, Dataset] = {}  # split name -> dataset, filled by the subclass's setup()

    def _loader(self, dataset: Dataset, sampler: Sampler[int] | None) -> DataLoader:
        # A private generator: the loader's per-iterator base seed is then not drawn from the global RNG,
        # whose state a resumed run must find exactly as the interrupted run left it.
        return DataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
            pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(torch.initial_seed()),
            collate_fn=keep_batch if isinstance(dataset, InMemoryDataset) else None,
        )

    def train_loader(self, dataset: Dataset) -> DataLoader:
        """Shuffled loader, seeded from the run's seed (``torch.initial_seed()`` after ``seed_everything``)."""
        self._sampler = self.train_sampler(dataset, seed=torch.initial_seed() % 2**31)
        if self._resume_at is not None:
            epoch, samples = self._resume_at
            self._sampler.start_at[epoch] = samples
            self._resume_at = None
        return self._loader(dataset, self._sampler)

    def train_sampler(self, dataset: Dataset, seed: int) -> EpochSeededSampler:
        """The training order (a subclass may return e.g. a length-bucketing :class:`EpochSeededSampler`)."""
        return EpochSeededSampler(len(dataset), seed=seed)

    def eval_loader(self, dataset: Dataset) -> DataLoader:
        """Loader in dataset order, for validation, test and prediction."""
        return self._loader(dataset, None)

    def dataset(self, split: str) -> Dataset:
        """``self.datasets[split]``, with a clear error when ``setup()`` has not built it."""
        if split not in self.datasets:
            built = sorted(self.datasets) or "none (has setup() run?)"
            raise KeyError(f"{type(self).__name__} has no {split!r} dataset; built: {built}")
        return self.datasets[split]

    def train_dataloader(self) -> DataLoader:
        return self.train_loader(self.dataset("train"))

    def val_dataloader(self) -> DataLoader:
        return self.eval_loader(self.dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self.eval_loader(self.dataset("test"))

    def predict_dataloader(self) -> DataLoader:
        return self.eval_loader(self.dataset("predict" if "predict" in self.datasets else "test"))

    def state_dict(self) -> dict[str, Any]:
        """Position in the current training epoch, saved into every checkpoint by Lightning."""
        trainer = self.trainer
        if trainer is None or self._sampler is None or trainer.world_size > 1:
            return {}
        # `processed` counts batches whose training step ran, also inside on_train_batch_end where
        # ModelCheckpoint saves; at an epoch's end the next epoch starts from its beginning.
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done == 0 or done >= trainer.num_training_batches:
            return {}
        return {"epoch": trainer.current_epoch, "samples_done": done * self.batch_size}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            # Lightning warns that a plain DataLoader cannot resume mid-epoch; this module does it instead
            warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch",
                                    category=PossibleUserWarning)
            self._resume_at = (int(state_dict["epoch"]), int(state_dict["samples_done"]))
            if self._sampler is not None:
                self._sampler.start_at[self._resume_at[0]] = self._resume_at[1]
                self._resume_at = None
