"""A run killed (SIGKILL) mid-epoch and resumed from last.ckpt ends with the same metrics as an uninterrupted
run with the same seed (CPU). The default experiment uses dropout, so this also checks the RNG state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import QUIET, compose_config

from lstmkit.train import run

ROOT = Path(__file__).resolve().parents[1]
# 7 training batches per epoch; last.ckpt every 5 steps: the kill at step 18 leaves the step-15 checkpoint,
# saved after the first batch of the third epoch
RESUME = [*QUIET, "trainer.max_epochs=4", "callbacks.step_checkpoint.every_n_train_steps=5",
          "model.net.hidden_size=16"]
KILL_AT_STEP, CHECKPOINT_STEP = 18, 15


class KillAtStep(L.Callback):
    """Sends SIGKILL to its own process once ``step`` optimizer steps are done (no clean-up, like a crash)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_kill_mid_epoch_and_resume_equals_uninterrupted(tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    run(compose_config("train", RESUME, uninterrupted))

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "scripts/train.py", *RESUME, f"hydra.run.dir={killed}",
         f"+callbacks.kill._target_={__name__}.KillAtStep", f"+callbacks.kill.step={KILL_AT_STEP}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not (killed / "metrics.json").exists()
    last = killed / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == CHECKPOINT_STEP
    assert checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"] == 1  # mid-epoch

    resumed = tmp_path / "resumed"
    run(compose_config("train", [*RESUME, f"ckpt_path={last}"], resumed))

    expected = json.loads((uninterrupted / "metrics.json").read_text())
    got = json.loads((resumed / "metrics.json").read_text())
    assert got["best_checkpoint"] == str(last.parent / "best.ckpt")  # the run's checkpoints continue in place
    assert got["global_step"] == expected["global_step"]
    assert got["optimized_metric"] == expected["optimized_metric"]
    assert got["test"] == expected["test"]
    assert got["val"] == expected["val"]
