"""The scripts as users run them (real subprocesses): a 2-trial Optuna sweep, DDP on 2 CPU processes, and the
error hint for a mistyped key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import QUIET, compose_config

ROOT = Path(__file__).resolve().parents[1]


def train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    flags = [a for a in args if a.startswith("-")]  # argparse wants flags such as -m before the overrides
    overrides = [a for a in args if not a.startswith("-")]
    return subprocess.run([sys.executable, "scripts/train.py", *flags, *QUIET, *overrides], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "HYDRA_FULL_ERROR": "0"})


@pytest.mark.slow
def test_optuna_sweep_writes_optimization_results(tmp_path):
    proc = train("-m", "hparams_search=forecast_optuna", "hydra.sweeper.n_trials=2", "trainer.max_epochs=1",
                 f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert results["name"] == "optuna" and set(results["best_params"]) >= {"model.optimizer.lr"}
    trials = [json.loads((tmp_path / str(i) / "metrics.json").read_text()) for i in range(2)]
    assert results["best_value"] == pytest.approx(min(t["optimized_metric"]["value"] for t in trials))


@pytest.mark.slow
def test_plain_multirun_uses_the_default_sweep_dir(tmp_path):
    """`-m key=a,b` with Hydra's basic sweeper and the configured sweep dir (no hydra.sweep.dir override)."""
    proc = train("-m", "trainer.max_epochs=1", "model.optimizer.lr=0.001,0.003", f"paths.log_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(tmp_path.glob("forecast_sunspots/train_multirun/*/*/metrics.json"))
    assert len(runs) == 2
    assert {json.loads(r.read_text())["seed"] for r in runs} == {12345}


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    proc = train("trainer=ddp", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "distributed_backend=gloo" in log and "Starting with 2 processes" in log
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["test/mae"] > 0 and metrics["best_checkpoint"]
    # the processes' test forecasts are gathered in dataset order: the baseline is scored on every test window
    assert metrics["test"]["test/naive/mae"] == pytest.approx(naive_test_mae())


def naive_test_mae() -> float:
    """The naive baseline's MAE over all test windows of the default experiment, in one process."""
    import hydra

    from lstmkit.forecast.baselines import naive_forecast

    datamodule = hydra.utils.instantiate(compose_config("train", []).data)
    datamodule.setup("test")
    origins = datamodule.windows["test"].origins
    forecast = naive_forecast(datamodule.target_series, origins, datamodule.horizon)
    return float(np.abs(forecast - datamodule.actuals("test")).mean())


def test_mistyped_key_prints_valid_keys(tmp_path):
    proc = train("model.optimizer.lrr=0.1", f"hydra.run.dir={tmp_path}", timeout=120)
    assert proc.returncode == 1
    assert "Unknown config key 'model.optimizer.lrr'" in proc.stderr
    assert "Did you mean: model.optimizer.lr" in proc.stderr
