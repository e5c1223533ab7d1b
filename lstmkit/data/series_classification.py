"""Labelled multichannel sequences (time-series classification) from sktime's bundled data sets (offline), and the
datamodule base the clip data shares.

Batches ``(x (B, T, ...) float32, lengths (B,) int64, labels (B,) int64)``: every sequence is zero-padded to the
data set's longest, and ``lengths`` marks where each one ends (the LSTM reads only that far).

Splits: the data set's standard train/test split, validation a fixed stratified share of the training part; or,
with ``sample_fold=[i, k, seed]`` (``scripts/cross_validate.py cv.kind=kfold``), fold ``i`` of a ``k``-fold split of
train and test pooled (:func:`lstmkit.forecast.cv.kfold_indices`). Channels are standardised with the training
part's statistics (padding excluded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from lstmkit.data.resumable import InMemoryDataset, ResumableDataModule
from lstmkit.forecast.cv import kfold_indices
from lstmkit.utils.imports import require

Split = tuple[list[np.ndarray], list[str]]  # sequences (T_i, *step_shape) and their labels


def pad_steps(sequences: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """``(N, T_max, *step_shape)`` float32 zero-padded, and the lengths ``(N,)`` int64."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.zeros(len(sequences), int(lengths.max()), *sequences[0].shape[1:])
    for i, sequence in enumerate(sequences):
        padded[i, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.float32)
    return padded, lengths


class SequenceClassificationDataModule(ResumableDataModule):
    """Base: subclasses implement :meth:`load` ``-> {"train": Split, "test": Split}``.

    Args:
        val_fraction: share of the training part held out (stratified, seed 0) for validation.
        sample_fold: ``[fold, folds, seed]``: k-fold cross-validation over train and test pooled; ``None`` for the
            standard split.
        standardize: standardise each channel (last axis of a step) with the training statistics.
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
    """

    def __init__(self, val_fraction: float = 0.1, sample_fold: Sequence[int] | None = None, standardize: bool = True,
                 batch_size: int = 32, num_workers: int = 0, pin_memory: bool = False) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a fraction in (0, 1), got {val_fraction}")
        if sample_fold is not None and (len(sample_fold) != 3 or not 0 <= sample_fold[0] < sample_fold[1]):
            raise ValueError(f"sample_fold: expected [fold, folds, seed] with 0 <= fold < folds, got {sample_fold}")
        self.val_fraction, self.sample_fold, self.standardize = val_fraction, sample_fold, standardize
        self.datasets: dict[str, InMemoryDataset] = {}
        self.classes: list[str] = []

    def load(self) -> dict[str, Split]:
        raise NotImplementedError

    def vocabularies(self) -> dict[str, list[str]]:
        """``{"classes": names}``: the task sizes its head from it
        (:class:`~lstmkit.tasks.vocabulary.VocabularySizedTask`)."""
        return {"classes": self.classes}

    def prepare_data(self) -> None:
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        data = self.load()
        self.classes = sorted(set(data["train"][1]) | set(data["test"][1]))
        sequences = data["train"][0] + data["test"][0]
        labels = np.array([self.classes.index(y) for y in data["train"][1] + data["test"][1]])
        if self.sample_fold is None:
            train, test = np.arange(len(data["train"][0])), np.arange(len(data["train"][0]), len(sequences))
        else:
            fold, folds, seed = self.sample_fold
            train, test = kfold_indices(len(sequences), folds, seed=seed)[fold]
        train, val = train_test_split(train, test_size=self.val_fraction, random_state=0, stratify=labels[train])
        x, lengths = pad_steps(sequences)
        if self.standardize:
            valid = torch.arange(x.shape[1]) < lengths[train, None]  # (N_train, T): steps that are not padding
            steps = x[train][valid]  # (steps, *step_shape)
            mean, std = steps.mean(0), steps.std(0).clamp(min=1e-6)
            self.mean, self.std = mean, std  # (*step_shape,): what a prediction on new data applies
            x = torch.where((torch.arange(x.shape[1]) < lengths[:, None]).view(*x.shape[:2], *[1] * (x.dim() - 2)),
                            (x - mean) / std, 0.0)
        y = torch.as_tensor(labels, dtype=torch.long)
        self.datasets = {name: InMemoryDataset(x[idx], lengths[idx], y[idx])
                         for name, idx in (("train", train), ("val", val), ("test", test))}


class JapaneseVowelsDataModule(SequenceClassificationDataModule):
    """Nine male speakers uttering /ae/ (Kudo et al. 1999, UCI): 12 LPC cepstrum coefficients per frame, 7–29
    frames; 270 training and 370 test utterances (sktime's copy of the UEA archive)."""

    def load(self) -> dict[str, Split]:
        datasets = require("sktime.datasets", "data", "the Japanese Vowels data module")
        result = {}
        for split in ("train", "test"):
            frame, labels = datasets.load_japanese_vowels(split=split)  # cells: one pd.Series per channel
            sequences = [np.stack([cell.to_numpy() for cell in row], axis=-1) for row in frame.itertuples(index=False)]
            result[split] = (sequences, [f"speaker {y}" for y in labels])
        return result


class BasicMotionsDataModule(SequenceClassificationDataModule):
    """Smart-watch accelerometer and gyroscope (6 channels × 100 steps at 10 Hz) of four activities (standing,
    walking, running, badminton); 40 training and 40 test recordings (sktime's copy of the UEA archive)."""

    def load(self) -> dict[str, Split]:
        datasets = require("sktime.datasets", "data", "the BasicMotions data module")
        result = {}
        for split in ("train", "test"):
            x, labels = datasets.load_basic_motions(split=split, return_type="numpy3D")  # (N, C, T)
            result[split] = (list(x.transpose(0, 2, 1)), [str(y) for y in labels])
        return result
