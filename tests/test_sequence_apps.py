"""CNN-LSTM pieces and the sequence-classification applications (Japanese Vowels, BasicMotions, moving digits):
each is checked against an independent computation (a loop, slicing, a per-sequence run, geometry)."""

from __future__ import annotations

import math

import hydra
import lightning as L
import numpy as np
import pytest
import torch
from helpers import compose_config
from torch import nn

from lstmkit.data.moving_digits import DIRECTIONS, MovingDigitsDataModule, make_clips, shuffle_frames
from lstmkit.data.series_classification import BasicMotionsDataModule, JapaneseVowelsDataModule
from lstmkit.models.cnn_lstm import FrameCNN, LSTMClassifier, WindowCNN
from lstmkit.models.time_distributed import TimeDistributed
from lstmkit.tasks.series_classification import frame_strip

torch.set_num_threads(1)


def test_time_distributed_vs_loop_over_time():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    x = torch.randn(4, 7, 2, 6, 6)  # (B, T, C, H, W)
    expected = torch.stack([module(x[:, t]) for t in range(x.shape[1])], dim=1)
    torch.testing.assert_close(TimeDistributed(module)(x), expected)


def test_frame_cnn_vs_loop_over_frames():
    torch.manual_seed(0)
    encoder = FrameCNN(image_size=16, channels=(4, 8), feature_size=6).eval()  # eval: BatchNorm per frame = per batch
    clips = torch.randn(3, 5, 1, 16, 16)
    inner = encoder.frames.module
    expected = torch.stack([inner(clips[:, t]) for t in range(5)], dim=1)
    torch.testing.assert_close(encoder(clips), expected)


def test_window_cnn_vs_slicing():
    torch.manual_seed(0)
    encoder = WindowCNN(in_channels=3, window=8, hop=3, channels=(4,), feature_size=5).eval()
    signal = torch.randn(2, 30, 3)  # (B, T, C)
    starts = range(0, 30 - 8 + 1, 3)
    expected = torch.stack([encoder.windows.module(signal[:, s: s + 8].transpose(1, 2)) for s in starts], dim=1)
    torch.testing.assert_close(encoder(signal), expected)
    assert encoder.output_lengths(torch.tensor([30, 8, 10, 11])).tolist() == [len(starts), 1, 1, 2]


def test_classifier_with_lengths_vs_each_sequence_alone():
    torch.manual_seed(0)
    net = LSTMClassifier(4, input_size=3, hidden_size=8, num_layers=2, bidirectional=True).eval()
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 3)
    x[torch.arange(6) >= lengths[:, None]] = 100.0  # padding must not matter
    batched = net(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(batched[i], net(x[i: i + 1, :n])[0], rtol=1e-5, atol=1e-5)


def test_clip_labels_match_the_turning_direction():
    rng = np.random.default_rng(1)
    images = np.ones((3, 8, 8), dtype=np.float32)
    clips, labels = make_clips(images, 40, frames=6, canvas=24, radius=6.0, step_degrees=(25, 45), rng=rng)
    rows, cols = np.arange(24)[:, None], np.arange(24)[None, :]
    for clip, label in zip(clips[:, :, 0], labels):
        mass = clip.sum((1, 2))
        centroids = np.stack([(clip * cols).sum((1, 2)) / mass, (clip * rows).sum((1, 2)) / mass], 1) - 12.0
        # z of the cross product of successive positions around the centre: > 0 turns clockwise on screen (y down)
        turns = centroids[:-1, 0] * centroids[1:, 1] - centroids[:-1, 1] * centroids[1:, 0]
        assert np.all(np.sign(turns) == (1 if DIRECTIONS[label] == "clockwise" else -1))


def test_shuffle_frames_permutes_each_clip():
    rng = np.random.default_rng(0)
    clips = np.arange(50 * 6, dtype=np.float32).reshape(50, 6, 1, 1, 1)  # frame value = its identity
    shuffled = shuffle_frames(clips, rng)
    orders = shuffled[:, :, 0, 0, 0] - clips[:, :1, 0, 0, 0]
    assert all(sorted(order) == list(range(6)) for order in orders.astype(int).tolist())
    assert len({tuple(order) for order in orders.astype(int).tolist()}) > 40  # each clip has its own order


def test_shuffled_control_keeps_each_clips_frames():
    settings = dict(train_clips=60, test_clips=20, frames=5)
    plain, shuffled = MovingDigitsDataModule(**settings), MovingDigitsDataModule(shuffle_frames=True, **settings)
    plain.setup()
    shuffled.setup()
    a, b = plain.datasets["train"].tensors[0], shuffled.datasets["train"].tensors[0]  # (N, T, 1, H, W)
    torch.testing.assert_close(plain.datasets["train"].tensors[2], shuffled.datasets["train"].tensors[2])
    moved = 0
    for clip, permuted in zip(a, b):
        match = (clip[:, None] == permuted[None]).flatten(2).all(-1)  # (T, T): frame t of clip == frame s of permuted
        assert match.any(1).all() and match.any(0).all()
        moved += not match.diagonal().all()
    assert moved > len(a) // 2


def test_japanese_vowels_data():
    data = JapaneseVowelsDataModule()
    data.setup()
    assert len(data.classes) == 9
    sizes = {name: len(ds) for name, ds in data.datasets.items()}
    assert sizes["train"] + sizes["val"] == 270 and sizes["test"] == 370
    x, lengths, _ = data.datasets["train"].tensors
    assert x.shape[-1] == 12 and 7 <= int(lengths.min()) and int(lengths.max()) <= 29
    valid = torch.arange(x.shape[1]) < lengths[:, None]
    torch.testing.assert_close(x[valid].mean(0), torch.zeros(12), atol=1e-4, rtol=0)
    assert (x[~valid] == 0).all()


def test_kfold_test_parts_partition_basic_motions():
    seen = []
    for fold in range(4):
        data = BasicMotionsDataModule(sample_fold=[fold, 4, 0])
        data.setup()
        seen.append({tuple(row) for row in data.datasets["test"].tensors[0][:, :3, 0].tolist()})
        assert sum(len(ds) for ds in data.datasets.values()) == 80
    assert sum(map(len, seen)) == 80 and len(set.union(*seen)) == 80


def test_frame_strip_layout():
    clips = torch.rand(2, 3, 1, 4, 5)
    image, caption = frame_strip(clips, ["a", "b"])
    assert image.shape == (1, 2 * 5, 3 * 6)
    torch.testing.assert_close(image[:, 5:9, 12:17], clips[1, 2])
    assert "row 1: b" in caption


class BatchLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[list[float]] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        self.losses.append([])

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses[-1].append(float(outputs["loss"]))


def short_training(experiment: str, epochs: int, overrides: list[str]) -> list[list[float]]:
    cfg = compose_config("train", [f"experiment={experiment}", *overrides])
    L.seed_everything(0)
    data = hydra.utils.instantiate(cfg.data)
    task = hydra.utils.instantiate(cfg.model)
    losses = BatchLosses()
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[losses], num_sanity_val_steps=0,
                        limit_val_batches=0, gradient_clip_val=1.0)
    trainer.fit(task, datamodule=data)
    return losses.losses


@pytest.mark.parametrize("experiment, epochs, overrides", [
    ("speaker_japanese_vowels", 8, ["model.optimizer.lr=0.003"]),
    ("activity_basic_motions", 15, []),
    ("clips_moving_digits", 3, ["data.train_clips=600", "data.test_clips=20"]),
])
def test_short_training_loss_falls(experiment, epochs, overrides):
    losses = short_training(experiment, epochs, overrides)
    start, end = np.mean(losses[0][:2]), np.mean(losses[-1])
    assert start > 0.5 * math.log(2)
    assert end < 0.35 * start, (start, end)


def test_clips_log_confusion_matrices_and_frames_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lstmkit.train import run

    cfg = compose_config("train", ["experiment=clips_moving_digits", "extras.print_config=false",
                                   "callbacks.rich_progress_bar=null", "callbacks.model_summary=null",
                                   "data.train_clips=64", "data.test_clips=16", "trainer.max_epochs=1",
                                   "model.media_every_n_epochs=1"], tmp_path)
    run(cfg)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    expected = {f"{stage}/{name}" for stage in ("val", "test") for name in ("confusion_matrix", "example_frames")}
    assert expected <= set(events.Tags()["images"])
    frames = events.Images("test/example_frames")[-1]
    assert (frames.width, frames.height) == (8 * 25, 4 * 25)  # 8 frames × 4 clips of 24 px + 1 px lines
