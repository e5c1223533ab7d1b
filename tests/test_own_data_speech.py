"""Speech recognition on a user's recordings (experiment=speech_csv) and transcripts of new WAV files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import QUIET, compose_config

from lstmkit import predict
from lstmkit.data.audio import frames_for, write_wav
from lstmkit.data.speech_csv import SpeechCSVDataModule
from lstmkit.train import run

WORDS = {"hi": 440.0, "lo": 220.0}


def recordings(folder, n, rate=16000, seed=0):
    """Tones standing for words: ``hi`` 440 Hz, ``lo`` 220 Hz, 0.3 s each; returns the CSV rows."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        words = list(rng.choice(list(WORDS), 2))
        t = np.arange(int(0.3 * rate)) / rate
        samples = np.concatenate([0.5 * np.sin(2 * np.pi * WORDS[w] * t) for w in words])
        write_wav(folder / f"{i}.wav", samples, rate)
        rows.append({"path": f"{i}.wav", "transcript": " ".join(words)})
    return pd.DataFrame(rows)


def test_train_then_transcribe_a_folder(tmp_path):
    recordings(tmp_path / "clips", 24).to_csv(tmp_path / "clips" / "clips.csv", index=False)
    out = tmp_path / "run"
    run(compose_config("train", ["experiment=speech_csv", f"data.path={tmp_path / 'clips' / 'clips.csv'}",
                                 "data.val_fraction=0.2", "data.test_fraction=0.2", "model.net.hidden_size=8",
                                 "model.net.num_layers=1", "trainer.max_epochs=1", "data.batch_size=8", *QUIET], out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test/cer", "test/wer"} <= set(metrics["test"])
    recordings(tmp_path / "new", 3, rate=8000, seed=1)  # another sample rate: resampled to 16 kHz
    cfg = compose_config("predict", [f"ckpt_path={metrics['best_checkpoint']}", f"data.path={tmp_path / 'new'}",
                                     f"output={tmp_path / 'transcripts.csv'}"], tmp_path / "predict")
    predict.run(cfg)
    written = pd.read_csv(tmp_path / "transcripts.csv", keep_default_na=False)
    assert list(written.columns) == ["path", "transcript"]
    assert list(written["path"]) == [str(tmp_path / "new" / f"{i}.wav") for i in range(3)]
    assert set("".join(written["transcript"])) <= set("hilo ")  # only characters of the training transcripts


def test_resampling_to_the_front_end_rate(tmp_path):
    rows = recordings(tmp_path, 10, rate=8000)
    rows.to_csv(tmp_path / "clips.csv", index=False)
    dm = SpeechCSVDataModule(str(tmp_path / "clips.csv"), val_fraction=0.2, test_fraction=0.2)
    dm.setup()
    assert dm.characters == ["<blank>", " ", "h", "i", "l", "o"]
    lengths = sorted(int(n) for split in ("train", "val", "test") for n in dm.datasets[split].lengths)
    assert lengths == [frames_for(2 * int(0.3 * 8000) * 2)] * 10  # 0.6 s at 16 kHz


def test_bad_recordings_are_named(tmp_path):
    rows = recordings(tmp_path, 4)
    (tmp_path / "2.wav").write_bytes(b"RIFF....not audio")
    rows.to_csv(tmp_path / "clips.csv", index=False)
    with pytest.raises(ValueError, match=r"2.wav: not a readable mono 16-bit PCM WAV file"):
        SpeechCSVDataModule(str(tmp_path / "clips.csv"), val_fraction=0.25, test_fraction=0.25).setup()
    rows.loc[1, "transcript"] = " "
    rows.to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(ValueError, match=r"empty.csv: column 'transcript' is empty in data row\(s\) \[2\]"):
        SpeechCSVDataModule(str(tmp_path / "empty.csv")).setup()
    rows.rename(columns={"path": "file"}).to_csv(tmp_path / "renamed.csv", index=False)
    with pytest.raises(KeyError, match=r"renamed.csv: column\(s\) \['path'\] not found"):
        SpeechCSVDataModule(str(tmp_path / "renamed.csv")).setup()
