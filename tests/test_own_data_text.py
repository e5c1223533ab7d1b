"""Text classification on a user's CSV (experiment=text_csv) and predictions on new texts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import QUIET, compose_config

from lstmkit import predict
from lstmkit.data.text_csv import TextCSVDataModule
from lstmkit.train import run

WORDS = {"pos": ["good", "great", "lovely", "fine"], "neg": ["bad", "awful", "poor", "sad"]}


def texts(n, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["pos", "neg"], n)
    return pd.DataFrame({"review": [" ".join(rng.choice(WORDS[k], 5)) + "!" for k in labels], "sentiment": labels})


def test_train_then_predict_labels_and_probabilities(tmp_path):
    texts(120).to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "run"
    run(compose_config("train", ["experiment=text_csv", f"data.path={tmp_path / 'train.csv'}",
                                 "data.text_column=review", "data.label_column=sentiment", "trainer.max_epochs=4",
                                 "model.net.hidden_size=8", "model.net.embedding_size=8", "model.optimizer.lr=0.02",
                                 "callbacks.early_stopping=null", *QUIET], out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test/accuracy", "test/baseline_accuracy"} <= set(metrics["test"])
    new = texts(20, seed=1)
    new.drop(columns="sentiment").to_csv(tmp_path / "new.csv", index=False)
    cfg = compose_config("predict", [f"ckpt_path={metrics['best_checkpoint']}", f"data.path={tmp_path / 'new.csv'}",
                                     f"output={tmp_path / 'labels.csv'}"], tmp_path / "predict")
    predict.run(cfg)
    written = pd.read_csv(tmp_path / "labels.csv")
    assert list(written.columns) == ["review", "label", "p_neg", "p_pos"] and len(written) == 20
    np.testing.assert_allclose(written[["p_neg", "p_pos"]].sum(axis=1), 1.0, rtol=1e-6)
    assert (written["label"] == np.where(written["p_pos"] > written["p_neg"], "pos", "neg")).all()
    assert (written["label"] == new["sentiment"]).mean() >= 0.9  # the words decide the label


def test_empty_text_and_missing_columns_are_named(tmp_path):
    frame = texts(10)
    frame.loc[[3, 6], "review"] = ["", "  "]
    frame.to_csv(tmp_path / "bad.csv", index=False)
    dm = TextCSVDataModule(str(tmp_path / "bad.csv"), text_column="review", label_column="sentiment")
    with pytest.raises(ValueError, match=r"bad.csv: column 'review' is empty in 2 data row\(s\) \[4, 7\]"):
        dm.setup()
    dm = TextCSVDataModule(str(tmp_path / "bad.csv"))
    with pytest.raises(KeyError, match=r"column\(s\) \['text', 'label'\] not found; the file has \['review', "
                                       r"'sentiment'\] \(name yours with data.text_column=..., data.label_column"):
        dm.setup()


def test_generate_from_a_language_model_trained_on_your_text(tmp_path):
    from lstmkit import generate

    lines = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 40
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    run(compose_config("train", ["experiment=lm_ptb_char", f"data.path={tmp_path / 'corpus.txt'}", "data.bptt=20",
                                 "data.batch_size=4", "model.net.hidden_size=16", "model.net.embedding_size=8",
                                 "model.net.num_layers=1", "trainer.max_epochs=1", "model.sample_tokens=5",
                                 *QUIET], out))
    ckpt = json.loads((out / "metrics.json").read_text())["best_checkpoint"]
    cfg = compose_config("generate", [f"ckpt_path={ckpt}", "prompt=the", "max_new_tokens=12", "num_samples=2"])
    samples = generate.run(cfg)
    assert len(samples) == 2 and all(s.startswith("the") for s in samples)
    text = "".join(samples)
    for special in ("<pad>", "<unk>", "<eos>", "<bos>"):
        text = text.replace(special, "")
    assert set(text) <= set("".join(lines)) | {"\n"}  # only characters of the training text
