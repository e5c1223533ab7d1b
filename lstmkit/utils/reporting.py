"""What a run reports: hyperparameters for the loggers (TensorBoard's HParams tab), ``metrics.json`` and a
printed summary table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf


def run_hyperparameters(cfg: DictConfig, model: L.LightningModule) -> dict[str, Any]:
    """The parameters a run is compared by: the model's hparams, data, trainer, seed and parameter counts."""
    params: dict[str, Any] = {"model": dict(model.hparams)}
    for key in ("data", "trainer"):
        params[key] = OmegaConf.to_container(cfg[key], resolve=True)
    params["model"]["params/total"] = sum(p.numel() for p in model.parameters())
    params["model"]["params/trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for key in ("seed", "repeats", "init_from", "tags"):
        params[key] = OmegaConf.to_container(cfg[key]) if isinstance(cfg.get(key), DictConfig) else cfg.get(key)
    return params


@rank_zero_only
def log_hyperparameters(trainer: L.Trainer, params: Mapping[str, Any],
                        metrics: Mapping[str, float] | None = None) -> None:
    """Send ``params`` to every logger; TensorBoard also gets ``metrics`` for its HParams tab.

    Metrics are written at the trainer's current step under their own tags, so the HParams tab shows the
    final value of each without breaking the step order of the scalar curves.
    """
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger) and metrics:
            logger.log_hyperparams(params, metrics=dict(metrics), step=trainer.global_step)
        else:
            logger.log_hyperparams(params)


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """Plain floats for the metrics whose names start with one of ``prefixes``, sorted by name."""
    out = {}
    for name, value in sorted(metrics.items()):
        if name.startswith(prefixes):
            out[name] = float(value.item() if isinstance(value, torch.Tensor) else value)
    return out


def write_metrics_json(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as JSON (NaN and infinities become null, which JSON readers accept)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(payload), indent=2) + "\n", encoding="utf-8")
    return path


def print_summary(title: str, metrics: Mapping[str, float], facts: Mapping[str, Any]) -> None:
    """One table: each metric, then facts (time, checkpoint, paths)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right", overflow="fold")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.6g}")
    table.add_section()
    for name, value in facts.items():
        table.add_row(name, str(value))
    Console(width=max(100, Console().width)).print(table)
