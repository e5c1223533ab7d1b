"""Files and runs shared by the own-data forecasting tests: a long-format panel file built in tmp_path, a short
training run of experiment=forecast_csv on it, and the predict config for a checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from helpers import QUIET, compose_config

from lstmkit.train import run

TINY = [*QUIET, "model.net.hidden_size=8", "trainer.max_epochs=1", "model.classical=null",
        "callbacks.early_stopping=null", "model.media_every_n_epochs=0"]


def long_file(tmp_path, lengths=(40, 36, 44), freq="MS", name="panel.csv", gap=True):
    """Monthly series ``a``, ``b``, ``c`` with a covariate ``promo``; ``b`` misses one timestamp and one y value."""
    rng = np.random.default_rng(0)
    parts = []
    for i, n in enumerate(lengths):
        ds = pd.date_range("2015-01-01", periods=n, freq=freq) + pd.DateOffset(months=i)
        y = 10 * (i + 1) + 3 * np.sin(np.arange(n) * 2 * np.pi / 12) + rng.normal(0, 0.3, n)
        parts.append(pd.DataFrame({"unique_id": "abc"[i], "ds": ds, "y": y, "promo": rng.integers(0, 2, n)}))
    frame = pd.concat(parts, ignore_index=True)
    if gap:
        b = frame.index[frame.unique_id == "b"]
        frame.loc[b[5], "y"] = np.nan
        frame = frame.drop(index=b[10])
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path, frame


def trained_run(tmp_path, file, extra=()):
    out = tmp_path / "run"
    overrides = ["experiment=forecast_csv", f"data.path={file}", "data.input_length=6", "data.horizon=3",
                 "data.val_size=6", "data.test_size=6", *TINY, *extra]
    run(compose_config("train", overrides, out))
    return out, json.loads((out / "metrics.json").read_text())


def predict_cfg(tmp_path, ckpt, file, name="forecast.csv"):
    return compose_config("predict", [f"ckpt_path={ckpt}", f"data.path={file}", f"output={tmp_path / name}"],
                          tmp_path / "predict")
