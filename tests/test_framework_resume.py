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


class KillDuringCheckpointWrite(L.Callback):
    """Sends SIGKILL to its own process while ``last.ckpt`` of optimizer step ``step`` is being written: after
    ``written`` bytes of its temporary file (``point="bytes"``), or just before that file is renamed over
    ``last.ckpt`` (``point="before_rename"``)."""

    def __init__(self, step: int, point: str, written: int = 0) -> None:
        self.step, self.point, self.written = step, point, written

    def setup(self, trainer, pl_module, stage) -> None:
        from lstmkit.utils import checkpoint

        real_open, real_replace = open, os.replace
        armed = lambda path: Path(path).name == ".last.ckpt.partial" and trainer.global_step == self.step
        kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
        limit = self.written

        class Killing:  # the temporary file, killing the process once `limit` bytes are on disk
            def __init__(self, file) -> None:
                self.file, self.done = file, 0

            def __getattr__(self, name):
                return getattr(self.file, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc) -> None:
                self.file.close()

            def write(self, data) -> int:
                if self.done + len(data) >= limit:
                    self.file.write(bytes(data)[: limit - self.done])
                    self.file.flush()
                    kill()
                self.done += len(data)
                return self.file.write(data)

        def killing_open(path, *args, **kwargs):
            file = real_open(path, *args, **kwargs)
            return Killing(file) if self.point == "bytes" and armed(path) else file

        def killing_replace(source, target) -> None:
            if self.point == "before_rename" and armed(source):
                kill()
            real_replace(source, target)

        checkpoint.open = killing_open  # shadows the builtin in that module only
        os.replace = killing_replace  # this process dies in this run anyway


def train_subprocess(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "scripts/train.py", *RESUME, f"hydra.run.dir={run_dir}", *overrides],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


# (step whose last.ckpt save is killed, how, step of the last.ckpt left): 7 batches per epoch, last.ckpt at every
# epoch end (steps 7, 14, 21) and every 5 steps
WRITE_KILLS = [(10, {"point": "bytes", "written": 4096}, 7),  # mid-file; the epoch-1 checkpoint is left
               (14, {"point": "before_rename"}, 10),  # the new file complete but not renamed; mid-epoch one left
               (20, {"point": "bytes", "written": 0}, 15)]  # temporary file just opened


@pytest.mark.slow
def test_kills_during_checkpoint_writes_and_resumes_equal_uninterrupted(tmp_path):
    from lstmkit.utils.checkpoint import load_checkpoint

    uninterrupted = tmp_path / "uninterrupted"
    run(compose_config("train", RESUME, uninterrupted))
    last = tmp_path / "killed_0" / "checkpoints" / "last.ckpt"
    for i, (step, kill, left) in enumerate(WRITE_KILLS):
        resume = [f"ckpt_path={last}"] if i else []
        proc = train_subprocess(tmp_path / f"killed_{i}", *resume,
                                f"+callbacks.kill._target_={__name__}.KillDuringCheckpointWrite",
                                f"+callbacks.kill.step={step}", *[f"+callbacks.kill.{k}={v}" for k, v in kill.items()])
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
        assert load_checkpoint(last)["global_step"] == left  # the previous checkpoint, whole
        partial = last.with_name(".last.ckpt.partial")
        if kill["point"] == "bytes":
            assert partial.stat().st_size == kill["written"]
        else:
            assert load_checkpoint(partial)["global_step"] == step
    resumed = tmp_path / "resumed"
    run(compose_config("train", [*RESUME, f"ckpt_path={last}"], resumed))
    expected = json.loads((uninterrupted / "metrics.json").read_text())
    got = json.loads((resumed / "metrics.json").read_text())
    for key in ("global_step", "optimized_metric", "test", "val"):
        assert got[key] == expected[key], key


@pytest.mark.slow
def test_kill_mid_epoch_and_resume_equals_uninterrupted(tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    run(compose_config("train", RESUME, uninterrupted))

    killed = tmp_path / "killed"
    proc = train_subprocess(killed, f"+callbacks.kill._target_={__name__}.KillAtStep",
                            f"+callbacks.kill.step={KILL_AT_STEP}")
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
