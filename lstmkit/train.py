"""Training: Hydra config -> datamodule, task, callbacks, loggers, trainer -> fit -> test the best checkpoint.

``python scripts/train.py [overrides]`` or ``lstmkit-train [overrides]`` (configs: ``lstmkit/conf``, i.e. ``conf/``).
:func:`run` returns the value of ``cfg.optimized_metric`` (averaged over ``cfg.repeats`` seeds), which is what
Hydra's sweepers optimise, and writes ``metrics.json`` into the run's output folder.
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from lstmkit.utils.checkpoint import AtomicCheckpointIO, load_checkpoint
from lstmkit.utils.hydra import hydra_entry, instantiate, instantiate_collection
from lstmkit.utils.memory import keep_freed_memory
from lstmkit.utils.reporting import (
    log_hyperparameters,
    print_summary,
    run_hyperparameters,
    scalar_metrics,
    write_metrics_json,
)

# what resuming needs: weights, optimizer and the loops' progress (a save_weights_only file has no optimizer state)
RESUME_KEYS = ("state_dict", "optimizer_states", "loops")


def prepare_run(cfg: DictConfig) -> None:
    """``threads``, ``extras.keep_freed_memory`` (:func:`lstmkit.utils.keep_freed_memory`),
    ``extras.ignore_warnings`` and ``extras.print_config`` (the composed config, printed once)."""
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    extras = cfg.get("extras") or {}
    if extras.get("keep_freed_memory"):
        keep_freed_memory()
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("print_config") and rank_zero_only.rank == 0:
        from rich.console import Console
        from rich.syntax import Syntax

        Console().print(Syntax(OmegaConf.to_yaml(cfg), "yaml", theme="ansi_dark"))


def load_weights(model: L.LightningModule, path: str) -> None:
    """``init_from``: copy only the network's weights from a checkpoint (no optimizer, epoch or metric state)."""
    checkpoint = load_checkpoint(path, "init_from", require=("state_dict",))
    if model.net is None:  # sized by the data's vocabularies: take the checkpoint's, which its weights index
        saved = checkpoint.get("hyper_parameters", {})
        if saved.get("vocabs") is None:
            raise ValueError(f"init_from={path!r}: {type(model).__name__} takes its network sizes from vocabularies, "
                             "and the checkpoint stores none")
        model.build_for(saved["vocabs"])
    prefix = "net."
    state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise ValueError(f"init_from={path!r}: the checkpoint has no '{prefix}*' weights to load")
    model.net.load_state_dict(state, strict=True)
    rank_zero_info(f"init_from: loaded {len(state)} network tensors from {path}")


def best_checkpoint(trainer: L.Trainer) -> str:
    """Path of the best checkpoint of the first monitoring ModelCheckpoint, or '' when none was saved."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor:
            return callback.best_model_path
    return ""


def tensorboard_dir(trainer: L.Trainer) -> str | None:
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.log_dir
    return None


def train_once(cfg: DictConfig) -> dict[str, Any]:
    """One seeded training run (fit, then test with the best checkpoint); returns what metrics.json records."""
    if cfg.get("train") and cfg.get("ckpt_path"):
        # a bad file fails here, before any data or model is built (Lightning reads it again, mapped, in fit)
        load_checkpoint(cfg.ckpt_path, "ckpt_path", require=RESUME_KEYS, mmap=True)
        # ModelCheckpoint restores its best score only when its folder is unchanged; resuming elsewhere would
        # make the first post-resume epoch "best" regardless of the epochs before the interruption
        with open_dict(cfg):
            cfg.paths.checkpoint_dir = str(Path(cfg.ckpt_path).resolve().parent)
        rank_zero_info(f"Resuming: checkpoints continue in {cfg.paths.checkpoint_dir}")
    seed = L.seed_everything(cfg.seed, workers=True)
    datamodule: L.LightningDataModule = instantiate(cfg.data, "data")
    model: L.LightningModule = instantiate(cfg.model, "model")
    if cfg.get("init_from"):
        load_weights(model, cfg.init_from)
    callbacks = instantiate_collection(cfg.get("callbacks"), "callbacks")
    loggers = instantiate_collection(cfg.get("logger"), "logger")
    trainer: L.Trainer = instantiate(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False,
                                     plugins=[AtomicCheckpointIO()])
    params = run_hyperparameters(cfg, model)
    log_hyperparameters(trainer, params)

    if cfg.get("train"):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_metrics = scalar_metrics(trainer.callback_metrics, ("train/", "val/"))
    best = best_checkpoint(trainer)

    test_metrics: dict[str, float] = {}
    if cfg.get("test"):
        if not best:
            rank_zero_info("No best checkpoint (e.g. fast_dev_run): testing the current weights.")
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None)
        test_metrics = scalar_metrics(trainer.callback_metrics, ("test/",))

    name = cfg.get("optimized_metric")
    value = fit_metrics.get(name, test_metrics.get(name)) if name else None
    if name and value is None and cfg.get("train"):
        raise KeyError(f"optimized_metric={name!r} was not logged; logged metrics: "
                       f"{sorted([*fit_metrics, *test_metrics])}")
    if value is not None:  # params again: a network sized by the data is built in setup
        log_hyperparameters(trainer, run_hyperparameters(cfg, model), {name: value, **test_metrics})
    return {
        "seed": seed, "optimized_metric": value, "test": test_metrics,
        "train": {k: v for k, v in fit_metrics.items() if k.startswith("train/")},
        "val": {k: v for k, v in fit_metrics.items() if k.startswith("val/")},
        "epochs": trainer.current_epoch, "global_step": trainer.global_step,
        "best_checkpoint": best or None, "output_dir": str(cfg.paths.output_dir),
        "tensorboard_dir": tensorboard_dir(trainer), "is_global_zero": trainer.is_global_zero,
    }


def run(cfg: DictConfig) -> float | None:
    """Train ``cfg.repeats`` times (seeds ``seed``, ``seed + 1``, …), write ``metrics.json``, print a summary,
    and return the mean of ``cfg.optimized_metric``."""
    start = time.perf_counter()
    prepare_run(cfg)
    repeats = int(cfg.get("repeats") or 1)
    if repeats < 1 or (repeats > 1 and cfg.get("ckpt_path")):
        raise ValueError(f"repeats={repeats}: expected >= 1, and 1 when resuming with ckpt_path")
    if repeats == 1:
        results = [train_once(cfg)]
    else:
        base_seed = L.seed_everything(cfg.get("seed"))
        results = []
        for i in range(repeats):
            sub = copy.deepcopy(cfg)
            with open_dict(sub):
                sub.seed = base_seed + i
                sub.paths.output_dir = str(Path(cfg.paths.output_dir) / f"repeat_{i}")
            results.append(train_once(sub))

    values = [r["optimized_metric"] for r in results if r["optimized_metric"] is not None]
    value = statistics.fmean(values) if values else None
    if not results[0]["is_global_zero"]:
        return value

    first = results[0]
    wall_time = time.perf_counter() - start
    summary = {
        "task_name": cfg.get("task_name"), "tags": OmegaConf.to_container(cfg.tags) if cfg.get("tags") else [],
        "optimized_metric": {"name": cfg.get("optimized_metric"), "value": value},
        "train": _mean_metrics([r["train"] for r in results]), "val": _mean_metrics([r["val"] for r in results]),
        "test": _mean_metrics([r["test"] for r in results]),
        "wall_time_s": round(wall_time, 3), "best_checkpoint": first["best_checkpoint"],
        "tensorboard_dir": first["tensorboard_dir"], "seed": first["seed"],
        "epochs": first["epochs"], "global_step": first["global_step"],
    }
    if repeats > 1:
        summary["repeats"] = [{k: r[k] for k in ("seed", "optimized_metric", "val", "test", "best_checkpoint")}
                              for r in results]
    path = write_metrics_json(Path(cfg.paths.output_dir) / "metrics.json", summary)
    shown = {**summary["test"], **summary["val"]}
    print_summary(
        f"{cfg.get('task_name')}: {cfg.get('optimized_metric')} = {value if value is None else f'{value:.6g}'}",
        shown,
        {"wall time": f"{wall_time:.1f} s", "epochs": first["epochs"], "best checkpoint": first["best_checkpoint"],
         "metrics.json": path, "tensorboard": f"tensorboard --logdir {first['tensorboard_dir']}"},
    )
    print(f"metrics.json: {path}")
    if first["tensorboard_dir"]:
        print(f"TensorBoard log dir: {first['tensorboard_dir']}")
    return value


def _mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.fmean(r[name] for r in runs if name in r) for name in runs[0]} if runs else {}


main = hydra_entry(run, config_name="train")

if __name__ == "__main__":
    main()
