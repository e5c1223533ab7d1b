"""Speech recognition from a user's recordings (``experiment=speech_csv data.path=transcripts.csv``).

A CSV with columns ``path`` (a WAV file, relative to the CSV's folder or absolute) and ``transcript``; an optional
``split`` column (``train``/``val``/``test``) assigns rows, otherwise a seeded ``val_fraction`` and
``test_fraction`` of the rows are held out. WAV files must be mono 16-bit PCM; any sample rate is resampled to the
front end's 16 kHz with :func:`lstmkit.data.audio.resample` (the FFT resampler of the synthetic speech data).
Features, normalisation and batches are those of :class:`~lstmkit.data.speech.SpeechDigitsDataModule`; the
alphabet is the CTC blank plus the characters of the training transcripts. An unreadable WAV file or an empty
transcript is an error naming the file or row.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lstmkit.data.audio import log_mel, read_wav, resample
from lstmkit.data.prepared import PreparedDataModule
from lstmkit.data.speech import BLANK, SAMPLE_RATE, SPLITS, PaddedFeatures, SpeechDataSpec, make_speech_data
from lstmkit.data.tables import read_table
from lstmkit.data.vocab import Vocabulary

__all__ = ["SpeechCSVDataModule", "wav_features"]


def wav_features(path: str | Path, front_end: dict[str, int]) -> Tensor:
    """Log-mel features ``(frames, n_mels)`` of a WAV file at 16 kHz; an unreadable file is an error naming it."""
    try:
        samples, rate = read_wav(path)
    except (wave.Error, EOFError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable mono 16-bit PCM WAV file ({error})") from error
    if len(samples) == 0:
        raise ValueError(f"{path}: the WAV file holds no samples")
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    return log_mel(torch.from_numpy(samples), SAMPLE_RATE, **front_end)


class SpeechCSVDataModule(PreparedDataModule):
    """Batches ``(log-mel features (B, T, n_mels), lengths (B,), characters (B, L), target lengths (B,))``.

    Args:
        path: the CSV (``path, transcript[, split]``); ``None``: the synthetic digits of ``data=speech_digits``
            (their manifest has these columns).
        val_fraction, test_fraction: shares held out (seed 0) when the CSV has no ``split`` column.
        lowercase: lower-case the transcripts.
        n_mels, n_fft, win_length, hop_length, normalize: see :class:`~lstmkit.data.speech.SpeechDigitsDataModule`.
        batch_size, num_workers, pin_memory: see :class:`~lstmkit.data.resumable.ResumableDataModule`.
    """

    def __init__(self, path: str | None = None, val_fraction: float = 0.1, test_fraction: float = 0.1,
                 lowercase: bool = True, n_mels: int = 40, n_fft: int = 512, win_length: int = 400,
                 hop_length: int = 160, normalize: str = "global", batch_size: int = 32, num_workers: int = 0,
                 pin_memory: bool = False, example_root: str = "data_cache/speech_digits") -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        if normalize not in ("global", "utterance", "none"):
            raise ValueError(f"normalize: expected 'global', 'utterance' or 'none', got {normalize!r}")
        self.path, self.val_fraction, self.test_fraction, self.lowercase = path, val_fraction, test_fraction, lowercase
        self.front_end = {"n_mels": n_mels, "n_fft": n_fft, "win_length": win_length, "hop_length": hop_length}
        self.normalize, self.example_root = normalize, example_root

    def rows(self) -> tuple[Path, list[tuple[str, str, str]]]:
        """``(folder, [(path, transcript, split)])`` of the CSV, checked."""
        path = self.path
        if path is None:
            path = make_speech_data(SpeechDataSpec(utterances={"train": 3000, "val": 300, "test": 500}),
                                    self.example_root) / "manifest.csv"
        frame = read_table(path)
        missing = [c for c in ("path", "transcript") if c not in frame.columns]
        if missing:
            raise KeyError(f"{path}: column(s) {missing} not found; the file has {list(frame.columns)} (expected "
                           "path, transcript and optionally split)")
        empty = frame["transcript"].isna() | (frame["transcript"].astype(str).str.strip() == "")
        if empty.any():
            raise ValueError(f"{path}: column 'transcript' is empty in data row(s) "
                             f"{(empty.to_numpy().nonzero()[0] + 1).tolist()[:10]}; every recording needs a transcript")
        if "split" in frame.columns:
            bad = sorted(set(frame["split"].astype(str)) - set(SPLITS))
            if bad:
                raise ValueError(f"{path}: column 'split' holds {bad}; expected train, val or test")
            splits = frame["split"].astype(str).to_numpy()
        else:
            order = np.random.default_rng(0).permutation(len(frame))
            n_test, n_val = round(self.test_fraction * len(frame)), round(self.val_fraction * len(frame))
            splits = np.full(len(frame), "train", dtype=object)
            splits[order[:n_test]], splits[order[n_test : n_test + n_val]] = "test", "val"
        texts = frame["transcript"].astype(str).str.strip()
        texts = texts.str.lower() if self.lowercase else texts
        return Path(path).parent, list(zip(frame["path"].astype(str), texts, splits))

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        folder, rows = self.rows()
        self.characters = [BLANK, *sorted({c for _, text, split in rows if split == "train" for c in text})]
        unseen = sorted({c for _, text, _ in rows for c in text} - set(self.characters))
        if unseen:
            raise ValueError(f"{self.path}: validation/test transcripts hold characters {unseen} that no training "
                             "transcript has")
        vocab = Vocabulary(self.characters)
        features: dict[str, list[Tensor]] = {split: [] for split in SPLITS}
        targets: dict[str, list[list[int]]] = {split: [] for split in SPLITS}
        for path, text, split in rows:
            features[split].append(wav_features(folder / path, self.front_end))
            targets[split].append(vocab.encode(text))
        self.mean = self.std = None
        if self.normalize == "global":
            frames = torch.cat(features["train"])
            self.mean, self.std = frames.mean(0), frames.std(0).clamp(min=1e-5)
        self.datasets = {split: PaddedFeatures([self.normalized(f) for f in features[split]], targets[split])
                         for split in SPLITS if features[split]}

    def normalized(self, features: Tensor) -> Tensor:
        if self.normalize == "global":
            return (features - self.mean) / self.std
        if self.normalize == "utterance":
            return (features - features.mean(0)) / features.std(0).clamp(min=1e-5)
        return features

    def vocabularies(self) -> dict[str, list[str]]:
        return {"characters": self.characters}

    def preparation(self) -> dict[str, Any]:
        return {"kind": "speech", "config": {"front_end": self.front_end, "normalize": self.normalize},
                "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist()}
