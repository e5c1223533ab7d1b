"""Cross-validation: ``python scripts/cross_validate.py experiment=forecast_co2 cv.folds=5`` or ``lstmkit-cv ...``.

``cv.kind=rolling`` (default): rolling-origin folds with an expanding training window
(:func:`lstmkit.forecast.cv.rolling_origin_folds`), passed to the data module as ``data.split_positions``;
``cv.kind=kfold``: k-fold over windows as i.i.d. samples (``data.sample_fold``). Each fold is a full training run
(:func:`lstmkit.train.train_once`: fit, then test the best checkpoint on the fold's test rows). Prints a per-fold
table and mean ± std of every test metric and writes them to ``cv.json`` in the run folder. Needs a data module
with ``split_positions``/``sample_fold`` (:class:`lstmkit.data.forecasting.ForecastDataModule`).
"""

from __future__ import annotations

import copy
import statistics
from pathlib import Path

from omegaconf import DictConfig, open_dict

from lstmkit.data.series import load_series
from lstmkit.forecast.cv import rolling_origin_folds
from lstmkit.train import prepare_run, train_once
from lstmkit.utils.hydra import hydra_entry
from lstmkit.utils.reporting import write_metrics_json


def fold_overrides(cfg: DictConfig) -> list[dict]:
    """The data settings of each fold."""
    cv = cfg.cv
    if cv.kind == "kfold":
        return [{"sample_fold": [i, cv.folds, cv.seed], "val_fraction": cv.val_fraction} for i in range(cv.folds)]
    if cv.kind != "rolling":
        raise ValueError(f"cv.kind: expected 'rolling' or 'kfold', got {cv.kind!r}")
    rows = len(load_series(cfg.data.series))
    folds = rolling_origin_folds(
        rows, cv.folds, cv.test_size, cv.val_fraction, min_train_size=cfg.data.input_length + cfg.data.horizon
    )
    return [{"split_positions": list(fold.positions)} for fold in folds]


def cross_validate(cfg: DictConfig) -> float | None:
    prepare_run(cfg)
    results = []
    for i, overrides in enumerate(fold_overrides(cfg)):
        fold_cfg = copy.deepcopy(cfg)
        with open_dict(fold_cfg):
            fold_cfg.data.update(overrides)
            fold_cfg.paths.output_dir = str(Path(cfg.paths.output_dir) / f"fold_{i}")
        print(f"fold {i}: data {overrides}")
        results.append(train_once(fold_cfg)["test"])
    metrics = sorted({name for fold in results for name in fold})
    summary = {
        name: {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
        for name in metrics
        if (values := [fold[name] for fold in results if name in fold])
    }
    print_folds(results, summary, f"{cfg.task_name}: {cfg.cv.kind} cross-validation, {cfg.cv.folds} folds")
    path = write_metrics_json(Path(cfg.paths.output_dir) / "cv.json", {"folds": results, "summary": summary})
    print(f"cv.json: {path}")
    name = cfg.get("optimized_metric", "")
    return summary.get(name.replace("val/", "test/").removesuffix("_best"), {}).get("mean")


def print_folds(results: list[dict], summary: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    table.add_column("metric")
    for i in range(len(results)):
        table.add_column(f"fold {i}", justify="right")
    table.add_column("mean ± std", justify="right")
    for name, stats in summary.items():
        cells = [f"{fold[name]:.4g}" if name in fold else "" for fold in results]
        table.add_row(name, *cells, f"{stats['mean']:.4g} ± {stats['std']:.2g}")
    Console(width=max(120, Console().width)).print(table)


main = hydra_entry(cross_validate, config_name="cross_validate")
