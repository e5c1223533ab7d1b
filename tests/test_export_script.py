"""scripts/export.py on a trained experiment: a tiny run of the default forecaster, exported to ONNX with its
sidecar; the file is run by onnxruntime on the run's validation windows and compared with the checkpoint's network,
and the sidecar's scaler reproduces the data module's scaled series."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import EXPERIMENTS, QUIET, compose_config

from lstmkit import export as lstmkit_export
from lstmkit.train import run as train

pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_export_script_on_a_trained_forecaster(tmp_path):
    short = [*QUIET, "trainer.max_epochs=1", "model.net.hidden_size=8", "model.classical=null", "test=false",
             "logger=csv"]
    train(compose_config("train", short, tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    output = tmp_path / "exported" / "forecaster.onnx"
    cfg = compose_config("export", [*QUIET[:1], f"ckpt_path={ckpt}", "format=onnx", f"output={output}"],
                         tmp_path / "export")
    sidecar = lstmkit_export.run(cfg)
    assert json.loads((tmp_path / "exported" / "forecaster.onnx.json").read_text()) == sidecar
    assert sidecar["inputs"]["x"] == {"dtype": "float32", "shape": ["batch", "time", 1]}
    assert sidecar["inputs"]["h0"]["shape"] == [2, "batch", 8]
    assert list(sidecar["outputs"]) == ["forecast", "h_n", "c_n"]
    assert sidecar["feature_order"] == ["sunspots"] and sidecar["horizon"] == 1
    assert max(v["max_rel_diff"] for v in sidecar["check"]["outputs"].values()) <= 1e-5

    import hydra
    import onnxruntime

    from lstmkit.tasks.forecasting import ForecastTask

    datamodule = hydra.utils.instantiate(compose_config("train", []).data)
    datamodule.setup("validate")
    scaler = sidecar["scalers"]["sunspots"]
    scaled = (datamodule.target_series - scaler["offset"]) / scaler["scale"]
    np.testing.assert_allclose(scaled, datamodule.prepared["sunspots"].to_numpy(), rtol=1e-9, atol=1e-9)

    net = ForecastTask.load_from_checkpoint(ckpt, weights_only=True).net.eval()
    x = torch.cat([b[0] for b in datamodule.val_dataloader()])  # every validation window, not only the first batch
    zeros = np.zeros((2, len(x), 8), np.float32)
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    forecast, h_n, _ = session.run(None, {"x": x.numpy(), "h0": zeros, "c0": zeros})
    with torch.no_grad():
        expected = net(x)
    torch.testing.assert_close(torch.from_numpy(forecast), expected, rtol=1e-5, atol=1e-6)
    assert h_n.shape == (2, len(x), 8)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_for_export(experiment):
    cfg = compose_config("export", [f"experiment={experiment}", "ckpt_path=x.ckpt", "output=x.onnx"])
    assert cfg.model._target_ and cfg.data._target_ and cfg.format == "onnx" and cfg.tolerance == 1e-5


def test_export_refuses_a_missing_checkpoint_and_an_unknown_format(tmp_path):
    cfg = compose_config("export", [*QUIET[:1], f"ckpt_path={tmp_path / 'none.ckpt'}", f"output={tmp_path / 'x'}"],
                         tmp_path)
    with pytest.raises(FileNotFoundError, match="ckpt_path: no checkpoint file at"):
        lstmkit_export.run(cfg)
    cfg.format = "tflite"
    with pytest.raises(ValueError, match=r"format: expected one of \['onnx', 'torch_export'\], got 'tflite'"):
        lstmkit_export.run(cfg)
