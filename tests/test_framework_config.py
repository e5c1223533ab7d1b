"""Framework configs: every experiment composes and runs one fast_dev_run step; searches compose; errors name
the valid choices."""

from __future__ import annotations

import json
import sys
from importlib import resources

import pytest
from helpers import EXPERIMENTS, QUIET, compose_config
from hydra.errors import HydraException

from lstmkit.utils.hydra import CONFIG_MODULE, explain_override_error

CONF = resources.files(CONFIG_MODULE)
SEARCHES = sorted(p.name.removesuffix(".yaml") for p in (CONF / "hparams_search").iterdir() if p.name.endswith(".yaml"))


def test_experiments_exist():
    assert "forecast_sunspots" in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_fast_dev_run(experiment, tmp_path):
    from lstmkit.train import run

    cfg = compose_config("train", [f"experiment={experiment}", "debug=fdr", *QUIET[:1]], tmp_path)
    assert cfg.trainer.fast_dev_run
    value = run(cfg)
    assert value is not None and value == value  # finite metric returned for the sweepers
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["optimized_metric"]["name"] == cfg.optimized_metric
    assert metrics["test"], "the test stage logged no metrics"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_for_eval(experiment):
    cfg = compose_config("eval", [f"experiment={experiment}", "ckpt_path=x.ckpt"])
    assert cfg.model._target_ and cfg.data._target_


@pytest.mark.parametrize("search", SEARCHES)
def test_hparams_search_composes(search):
    cfg = compose_config("train", [f"hparams_search={search}"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params
    if "optuna" in search:
        assert cfg.hydra.sweeper.storage is None
        expected = "RandomSampler" if "random" in search else "TPESampler"
        assert cfg.hydra.sweeper.sampler._target_.endswith(expected)


def test_random_sampler_by_override():
    cfg = compose_config("train", ["hparams_search=forecast_optuna", "hydra/sweeper/sampler=random"])
    assert cfg.hydra.sweeper.sampler._target_.endswith("RandomSampler")


@pytest.mark.parametrize("trainer", ["default", "cpu", "gpu", "ddp"])
@pytest.mark.parametrize("logger", ["logger=tensorboard", "logger=csv", "logger=many_loggers", "~logger"])
def test_trainer_and_logger_groups_compose(trainer, logger):
    cfg = compose_config("train", [f"trainer={trainer}", logger])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"


@pytest.mark.parametrize("debug", ["fdr", "overfit", "limit"])
def test_debug_configs_compose(debug):
    cfg = compose_config("train", [f"debug={debug}"])
    assert cfg.task_name == "debug" and cfg.trainer.max_epochs >= 1


def test_unknown_experiment_lists_choices():
    with pytest.raises(HydraException, match=r"(?s)Could not find 'experiment/no_such'.*forecast_sunspots"):
        compose_config("train", ["experiment=no_such"])


def test_unknown_key_lists_valid_keys():
    hint = explain_override_error("train", ["model.net.hiden_size=8", "trainer.max_epochs=1"])
    assert "Unknown config key 'model.net.hiden_size'" in hint
    assert "hidden_size" in hint and "num_layers" in hint and "Did you mean: model.net.hidden_size" in hint
    trainer_hint = explain_override_error("train", ["trainer.fast_dev_runn=true"])
    assert "fast_dev_run" in trainer_hint and "+trainer.<name>" in trainer_hint
    assert explain_override_error("train", ["trainer.max_epochs=1"]) is None


def test_unknown_backend_lists_choices():
    from lstmkit.utils.hydra import instantiate

    cfg = compose_config("train", ["model.net.backend=cudnn"])
    message = (r"^model \(lstmkit.tasks.forecasting.ForecastTask\): backend: expected one of "
               r"\['auto', 'aten', 'reference', 'triton'\], got 'cudnn'$")
    with pytest.raises(ValueError, match=message):
        instantiate(cfg.model, "model")


def test_missing_data_package_names_the_extra(monkeypatch):
    from lstmkit.data.forecasting import ForecastDataModule

    monkeypatch.setitem(sys.modules, "statsmodels", None)
    monkeypatch.setitem(sys.modules, "statsmodels.api", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'lstmkit\[data\]'"):
        ForecastDataModule(series="sunspots").prepare_data()
