"""Clips of real handwritten digits (scikit-learn's bundled ``load_digits``, 8×8) moving on a circle across a
canvas, clockwise or anticlockwise: a label that only the order of the frames reveals.

Each clip starts at a random angle and turns by a random step per frame; for either direction the frames cover
an arc drawn from the same distribution (an anticlockwise clip is a clockwise one played backwards), so every
single frame and the *set* of frames are equally likely under both labels. ``shuffle_frames=True`` permutes the
frames of every clip (a fixed random permutation per clip): the control run whose accuracy must fall to chance.
Training and test clips are made from disjoint digit images.
"""

from __future__ import annotations

import math

import numpy as np

from lstmkit.data.series_classification import SequenceClassificationDataModule, Split
from lstmkit.utils.imports import require

DIRECTIONS = ("anticlockwise", "clockwise")


def make_clips(images: np.ndarray, count: int, frames: int, canvas: int, radius: float,
               step_degrees: tuple[float, float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``clips (count, frames, 1, canvas, canvas)`` float32 in [0, 1] and direction labels ``(count,)`` (1 =
    clockwise in image coordinates, y pointing down)."""
    size = images.shape[-1]
    clips = np.zeros((count, frames, 1, canvas, canvas), dtype=np.float32)
    labels = rng.integers(0, 2, count)
    centre = (canvas - size) / 2
    for i in range(count):
        image = images[rng.integers(len(images))]
        start, step = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(*step_degrees))
        sign = 1 if labels[i] == 1 else -1
        for t in range(frames):
            angle = start + sign * step * t
            x, y = round(centre + radius * math.cos(angle)), round(centre + radius * math.sin(angle))
            clips[i, t, 0, y: y + size, x: x + size] = image
    return clips, labels


def shuffle_frames(clips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each clip's frames in its own random order ``(N, T, ...)``."""
    order = np.argsort(rng.random(clips.shape[:2]), axis=1)  # (N, T): one permutation per clip
    return np.take_along_axis(clips, order.reshape(*order.shape, *[1] * (clips.ndim - 2)), axis=1)


class MovingDigitsDataModule(SequenceClassificationDataModule):
    """Batches ``(clips (B, T, 1, H, W), lengths (B,), labels (B,))``, labels ``anticlockwise``/``clockwise``.

    Args:
        train_clips, test_clips: clips per split (validation: ``val_fraction`` of the training clips).
        frames: frames per clip.
        canvas: canvas side in pixels.
        radius: radius of the circle the digit's corner follows, in pixels.
        step_degrees: range of the turn per frame.
        shuffle_frames: permute every clip's frames (the control: the label is then unrecoverable).
        seed: generation seed (images are split in half first: training clips use one half, test clips the other).
        **base: see :class:`SequenceClassificationDataModule` (``standardize`` is off: pixels are already in [0, 1]).
    """

    def __init__(self, train_clips: int = 2000, test_clips: int = 500, frames: int = 8, canvas: int = 24,
                 radius: float = 6.0, step_degrees: tuple[float, float] = (25.0, 45.0), shuffle_frames: bool = False,
                 seed: int = 0, **base) -> None:
        super().__init__(**{"standardize": False, **base})
        if 2 * radius + 8 > canvas:
            raise ValueError(f"radius: expected 2 * radius + 8 <= canvas ({canvas}) so the digit stays inside, "
                             f"got {radius}")
        self.counts = {"train": train_clips, "test": test_clips}
        self.frames, self.canvas, self.radius, self.step_degrees = frames, canvas, radius, tuple(step_degrees)
        self.shuffle, self.seed = shuffle_frames, seed

    def load(self) -> dict[str, Split]:
        sklearn_datasets = require("sklearn.datasets", "data", "the moving-digits data module")
        images = sklearn_datasets.load_digits().images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(images))
        halves = {"train": images[order[: len(order) // 2]], "test": images[order[len(order) // 2:]]}
        result = {}
        for split, count in self.counts.items():
            clips, labels = make_clips(halves[split], count, self.frames, self.canvas, self.radius,
                                       self.step_degrees, rng)
            if self.shuffle:
                clips = shuffle_frames(clips, rng)
            result[split] = (list(clips), [DIRECTIONS[y] for y in labels])
        return result
