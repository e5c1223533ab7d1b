"""Evaluation: rebuild a task from a checkpoint (architecture from its hyperparameters, then its weights) and
test it on the configured data.

``python scripts/eval.py ckpt_path=.../checkpoints/best.ckpt [experiment=...] [split=val]`` or ``lstmkit-eval``.
Writes ``metrics.json`` into the run's output folder and prints its path.

Task settings given on the command line (``model.<key>=...``, e.g. ``model.test_beam_size=1``) replace the
checkpoint's; the network itself (``model.net.*``) is the checkpoint's, and overriding it is an error.
``ensemble=[path, ...]``: more checkpoints of the same task decoding together with ``ckpt_path`` (seq2seq tasks).
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from lstmkit.train import prepare_run, tensorboard_dir
from lstmkit.utils.checkpoint import load_task
from lstmkit.utils.hydra import hydra_entry, instantiate, instantiate_collection
from lstmkit.utils.reporting import print_summary, scalar_metrics, write_metrics_json

SPLITS = ("test", "val")


def command_line_overrides(cfg: DictConfig) -> list[str]:
    """The run's command-line overrides (from ``cfg.hydra`` when composed with it, else from the running Hydra)."""
    if "hydra" in cfg:
        return list(cfg.hydra.overrides.task)
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def model_overrides(cfg: DictConfig) -> dict:
    """``{task argument: value}`` for the ``model.<key>`` overrides of the command line."""
    found = {}
    for override in command_line_overrides(cfg):
        key = override.split("=", 1)[0].lstrip("+~")
        if not key.startswith("model."):
            continue
        top = key.split(".")[1]
        if top in ("net", "_target_"):
            raise ValueError(f"{key}: the network is rebuilt from the checkpoint's hyperparameters ({cfg.ckpt_path}); "
                             "it cannot be changed when evaluating (override the task's settings, e.g. "
                             "model.test_beam_size, or train a new model)")
        value = cfg.model[top]
        found[top] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return found


def run(cfg: DictConfig) -> dict[str, float]:
    """Evaluate ``cfg.ckpt_path`` on ``cfg.split``; returns the metrics."""
    start = time.perf_counter()
    prepare_run(cfg)
    if cfg.split not in SPLITS:
        raise ValueError(f"split: expected one of {list(SPLITS)}, got {cfg.split!r}")
    if not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path: no checkpoint file at {cfg.ckpt_path!r}")
    overrides = model_overrides(cfg)
    members = list(cfg.get("ensemble") or [])
    missing = [path for path in members if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"ensemble: no checkpoint file at {missing}")
    L.seed_everything(cfg.seed, workers=True)
    datamodule: L.LightningDataModule = instantiate(cfg.data, "data")
    task_class = hydra.utils.get_class(cfg.model._target_)
    model = load_task(task_class, cfg.ckpt_path, "ckpt_path", **overrides)
    if members:
        if not hasattr(model, "ensemble"):
            raise ValueError(f"ensemble: {task_class.__name__} cannot decode as an ensemble (seq2seq tasks can)")
        model.ensemble([load_task(task_class, path, "ensemble") for path in members])
    loggers = instantiate_collection(cfg.get("logger"), "logger")
    trainer: L.Trainer = instantiate(cfg.trainer, "trainer", logger=loggers or False, callbacks=[])
    evaluate = trainer.test if cfg.split == "test" else trainer.validate
    evaluate(model, datamodule=datamodule)
    metrics = scalar_metrics(trainer.callback_metrics, (f"{cfg.split}/",))
    if trainer.is_global_zero:
        wall_time = time.perf_counter() - start
        path = write_metrics_json(Path(cfg.paths.output_dir) / "metrics.json", {
            "task_name": cfg.get("task_name"), "ckpt_path": str(cfg.ckpt_path), "ensemble": members,
            "split": cfg.split,
            cfg.split: metrics, "wall_time_s": round(wall_time, 3), "tensorboard_dir": tensorboard_dir(trainer),
        })
        print_summary(f"eval of {cfg.ckpt_path}", metrics, {"wall time": f"{wall_time:.1f} s", "metrics.json": path})
        print(f"metrics.json: {path}")
    return metrics


main = hydra_entry(run, config_name="eval")

if __name__ == "__main__":
    main()
