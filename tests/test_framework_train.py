"""Training end to end (in process, a few epochs of the default experiment): metrics.json, eval reproduces the
test metric, init_from, repeats, and what TensorBoard's event files hold."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import QUIET, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from lstmkit import eval as lstmkit_eval
from lstmkit.train import run

SHORT = [*QUIET, "trainer.max_epochs=3", "model.media_every_n_epochs=1", "model.net.hidden_size=16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short training run of the default experiment: (output dir, returned metric, metrics.json)."""
    out = tmp_path_factory.mktemp("train")
    value = run(compose_config("train", SHORT, out))
    return out, value, json.loads((out / "metrics.json").read_text())


def test_metrics_json(trained):
    out, value, metrics = trained
    assert metrics["optimized_metric"] == {"name": "val/mae_best", "value": pytest.approx(value)}
    assert {"test/mae", "test/rmse", "test/mse", "test/r2", "test/loss"} <= set(metrics["test"])
    # the baselines, scored on the same test windows in the same run
    assert {f"test/{name}/mae" for name in ("naive", "seasonal_naive", "sarimax")} <= set(metrics["test"])
    assert {"val/mae", "val/mae_best", "val/loss"} <= set(metrics["val"])
    assert {"train/loss", "train/mae"} <= set(metrics["train"])
    assert metrics["wall_time_s"] > 0 and metrics["epochs"] == 3
    assert metrics["best_checkpoint"] == str(out / "checkpoints" / "best.ckpt")
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_checkpoint_rebuilds_model_and_loads_weights_only(trained):
    out, _, _ = trained
    checkpoint = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["net"]["hidden_size"] == 16
    from lstmkit.tasks.forecasting import ForecastTask

    model = ForecastTask.load_from_checkpoint(out / "checkpoints" / "best.ckpt", weights_only=True)
    assert model.net.lstm.hidden_size == 16


def test_eval_reproduces_test_metrics(trained, tmp_path):
    out, _, metrics = trained
    cfg = compose_config("eval", [*QUIET[:1], f"ckpt_path={metrics['best_checkpoint']}"], tmp_path)
    result = lstmkit_eval.run(cfg)
    assert result == pytest.approx(metrics["test"], rel=1e-6)
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == pytest.approx(metrics["test"], rel=1e-6)


def test_init_from_loads_weights_into_a_new_run(trained, tmp_path):
    out, _, metrics = trained
    cfg = compose_config("train", [*SHORT, f"init_from={metrics['best_checkpoint']}", "train=false"], tmp_path)
    assert run(cfg) is None  # nothing trained, so no val/mae_best
    tested = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert tested == pytest.approx(metrics["test"], rel=1e-6)

    finetune = tmp_path / "finetune"
    cfg = compose_config("train", [*SHORT, f"init_from={metrics['best_checkpoint']}", "trainer.max_epochs=1",
                                   "model.optimizer.lr=0.0003"], finetune)
    assert run(cfg) is not None
    assert json.loads((finetune / "metrics.json").read_text())["epochs"] == 1


def test_tensorboard_scalars_and_hparams(trained):
    out, value, _ = trained
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0, "images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/mae", "train/grad_norm", "train/lr", "val/loss", "val/mae", "val/rmse",
                "val/mae_best", "test/mae", "test/rmse", "test/naive/mae", "test/sarimax/mae"}
    assert expected <= scalars, f"missing: {expected - scalars}"
    assert events.Scalars("val/mae_best")[-1].value == pytest.approx(value)
    assert {"val/forecast_vs_actual", "test/forecast_vs_actual"} <= set(events.Tags()["images"])

    content = events.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = session.session_start_info.hparams
    assert hparams["model/net/hidden_size"].number_value == 16
    assert hparams["model/optimizer/lr"].number_value == pytest.approx(0.003)
    assert hparams["seed"].number_value == 12345
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {"val/mae_best", "test/mae"} <= {info.name.tag for info in experiment.metric_infos}


def test_repeats_average_over_seeds(tmp_path):
    cfg = compose_config("train", [*QUIET[:1], "debug=fdr", "repeats=2"], tmp_path)
    value = run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    runs = metrics["repeats"]
    assert [r["seed"] for r in runs] == [12345, 12346]
    assert value == pytest.approx(sum(r["optimized_metric"] for r in runs) / 2)


def test_eval_applies_task_overrides_and_refuses_network_ones(trained, tmp_path):
    """``model.<key>=`` on the eval command line replaces the checkpoint's task setting (here the loss: the
    weights and so the MAE stay, the logged loss changes); ``model.net.*`` is refused, not silently ignored."""
    out, _, metrics = trained
    checkpoint = f"ckpt_path={metrics['best_checkpoint']}"
    result = lstmkit_eval.run(compose_config("eval", [*QUIET[:1], checkpoint, "model.loss=mae"], tmp_path))
    assert result["test/mae"] == pytest.approx(metrics["test"]["test/mae"], rel=1e-6)
    assert result["test/loss"] != pytest.approx(metrics["test"]["test/loss"], rel=1e-3)
    with pytest.raises(ValueError, match="model.net.hidden_size: the network is rebuilt from the checkpoint"):
        lstmkit_eval.run(compose_config("eval", [*QUIET[:1], checkpoint, "model.net.hidden_size=8"], tmp_path))
    with pytest.raises(ValueError, match="ensemble: ForecastTask cannot decode as an ensemble"):
        lstmkit_eval.run(compose_config("eval", [*QUIET[:1], checkpoint, f"ensemble=[{metrics['best_checkpoint']}]"],
                                        tmp_path))
