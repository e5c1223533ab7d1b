"""``model.compile=true``: the task compiles its network in place in ``configure_model``; checkpoints keep the
uncompiled parameter names, so they load into compiled and uncompiled models alike, and a compiled run resumes."""

from __future__ import annotations

import json
import re

import hydra
import pytest
import torch
from helpers import QUIET, compose_config
from hydra.errors import InstantiationException

from lstmkit.train import run

SHORT = [*QUIET, "model.net.hidden_size=8", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2",
         "+trainer.limit_test_batches=2", "model.classical=null"]


def make_task(*overrides: str):
    return hydra.utils.instantiate(compose_config("train", [*SHORT, *overrides]).model)


def test_configure_model_compiles_in_place_once_keeping_parameter_names():
    plain, task = make_task(), make_task("model.compile=true", "model.compile_dynamic=true")
    task.configure_model()
    task.configure_model()  # Lightning calls it for every fit/validate/test: compiled once
    assert task.net._compiled_call_impl is not None and not hasattr(task.net, "_orig_mod")
    assert list(task.state_dict()) == list(plain.state_dict())
    assert not any("_orig_mod" in key for key in task.state_dict())
    task.load_state_dict(plain.state_dict())  # strict, both ways
    plain.load_state_dict(task.state_dict())
    task.eval(), plain.eval()
    x = torch.randn(2, 24, 1)
    calls = torch._dynamo.utils.counters["stats"]["calls_captured"]
    torch.testing.assert_close(task.net(x), plain.net(x), rtol=1e-5, atol=1e-6)
    assert torch._dynamo.utils.counters["stats"]["calls_captured"] > calls  # the call went through Dynamo


def test_uncompiled_task_is_not_compiled():
    task = make_task()
    task.configure_model()
    assert task.net._compiled_call_impl is None


def test_bad_compile_mode_names_the_argument():
    with pytest.raises(InstantiationException) as info:
        make_task("model.compile=true", "model.compile_mode=fastest")
    assert isinstance(info.value.__cause__, ValueError)
    assert re.match(r"compile_mode: expected one of .*'reduce-overhead'.*, got 'fastest'", str(info.value.__cause__))


@pytest.mark.slow
def test_compiled_run_checkpoints_load_uncompiled_and_resume(tmp_path):
    from lstmkit.tasks.forecasting import ForecastTask

    first = tmp_path / "first"
    run(compose_config("train", [*SHORT, "model.compile=true", "trainer.max_epochs=1"], first))
    last = first / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)["state_dict"]
    assert state and not any("_orig_mod" in key for key in state)
    # strict loads, plain names; Lightning runs configure_model while loading, so the stored compile=true holds
    compiled = ForecastTask.load_from_checkpoint(last, weights_only=True)
    assert compiled.net._compiled_call_impl is not None
    uncompiled = ForecastTask.load_from_checkpoint(last, weights_only=True, compile=False)
    assert uncompiled.net._compiled_call_impl is None
    assert list(uncompiled.state_dict()) == list(compiled.state_dict()) == list(make_task().state_dict())

    resumed = tmp_path / "resumed"
    run(compose_config("train", [*SHORT, "model.compile=true", "trainer.max_epochs=2", f"ckpt_path={last}"], resumed))
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test"]
