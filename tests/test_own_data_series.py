"""Series classification on a user's file (experiment=series_csv: long CSV or sktime .ts) and predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import QUIET, compose_config

from lstmkit import predict
from lstmkit.data.series_csv import SeriesCSVDataModule
from lstmkit.train import run


def sequences(n, seed=0, labelled=True):
    """Sequences of 8-15 steps whose first feature rises (label up) or falls (down); a second, noise feature."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label, steps = rng.choice(["up", "down"]), int(rng.integers(8, 16))
        trend = (1 if label == "up" else -1) * np.arange(steps) / 4
        rows.append(pd.DataFrame({"seq": f"s{i}", "t": np.arange(steps), "f0": trend + rng.normal(0, 0.2, steps),
                                  "f1": rng.normal(0, 1, steps), **({"label": label} if labelled else {})}))
    return pd.concat(rows, ignore_index=True)


def test_train_then_predict_sequence_labels(tmp_path):
    sequences(60).to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "run"
    run(compose_config("train", ["experiment=series_csv", f"data.path={tmp_path / 'train.csv'}", "data.id_column=seq",
                                 "data.step_column=t", "model.net.hidden_size=8", "trainer.max_epochs=8",
                                 "model.optimizer.lr=0.02", "callbacks.early_stopping=null", *QUIET], out))
    metrics = json.loads((out / "metrics.json").read_text())
    new = sequences(20, seed=1)
    new.drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    cfg = compose_config("predict", [f"ckpt_path={metrics['best_checkpoint']}", f"data.path={tmp_path / 'new.csv'}",
                                     f"output={tmp_path / 'labels.csv'}"], tmp_path / "predict")
    predict.run(cfg)
    written = pd.read_csv(tmp_path / "labels.csv")
    assert list(written.columns) == ["unique_id", "label", "p_down", "p_up"]
    assert list(written["unique_id"]) == [f"s{i}" for i in range(20)]
    np.testing.assert_allclose(written[["p_down", "p_up"]].sum(axis=1), 1.0, rtol=1e-6)
    truth = new.groupby("seq", sort=False)["label"].first().to_numpy()
    assert (written["label"].to_numpy() == truth).mean() >= 0.8

    new.drop(columns=["label", "f1"]).to_csv(tmp_path / "no_f1.csv", index=False)
    with pytest.raises(KeyError, match=r"no_f1.csv: column\(s\) \['f1'\] not found"):
        predict.run(compose_config("predict", [f"ckpt_path={metrics['best_checkpoint']}",
                                               f"data.path={tmp_path / 'no_f1.csv'}"], tmp_path / "predict2"))


def test_ts_file_is_read_by_sktime(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 2, 10)).round(3)
    labels = ["up" if i % 2 else "down" for i in range(12)]
    header = ["@problemName toy", "@timeStamps false", "@missing false", "@univariate false", "@dimensions 2",
              "@equalLength true", "@seriesLength 10", "@classLabel true down up", "@data"]
    lines = [":".join(",".join(map(str, channel)) for channel in v) + f":{y}" for v, y in zip(values, labels)]
    (tmp_path / "toy.ts").write_text("\n".join(header + lines) + "\n")
    dm = SeriesCSVDataModule(str(tmp_path / "toy.ts"), standardize=False, test_fraction=0.25, val_fraction=0.2)
    dm.setup()
    x = np.concatenate([dm.datasets[s].tensors[0].numpy() for s in ("train", "val", "test")])  # (12, 10, 2)
    found = x.transpose(0, 2, 1).reshape(12, -1).astype(np.float64)
    expected = values.reshape(12, -1)
    np.testing.assert_allclose(found[np.lexsort(found.T[::-1])], expected[np.lexsort(expected.T[::-1])], atol=1e-6)
    assert dm.classes == ["down", "up"] and len(dm.features) == 2


def test_bad_sequence_files(tmp_path):
    frame = sequences(6)
    mixed = frame.copy()
    mixed.loc[mixed.seq == "s2", "label"] = ["up", "down"] * int((mixed.seq == "s2").sum() // 2) + (
        ["up"] if (mixed.seq == "s2").sum() % 2 else [])
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(ValueError, match=r"sequence 's2' has labels \['up', 'down'\] in column 'label'; expected one"):
        SeriesCSVDataModule(str(tmp_path / "mixed.csv"), id_column="seq", step_column="t").setup()
    frame.iloc[::-1].to_csv(tmp_path / "reversed.csv", index=False)
    with pytest.raises(ValueError, match=r"sequence 's5': column 't' must increase strictly within a sequence"):
        SeriesCSVDataModule(str(tmp_path / "reversed.csv"), id_column="seq", step_column="t").setup()
    (tmp_path / "broken.ts").write_text("@problemName x\n@data\n1,2:oops\n")
    with pytest.raises(ValueError, match=r"broken.ts: not a readable .ts file"):
        SeriesCSVDataModule(str(tmp_path / "broken.ts")).setup()
