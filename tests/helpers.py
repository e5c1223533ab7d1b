"""Helpers shared by test modules (tests import this, never each other): the experiment names, Hydra composition
as ``@hydra.main`` does it, and loading a benchmark script of ``scripts/`` (benchmarks stay scripts, so their
baselines are tested through the file)."""

from __future__ import annotations

import importlib.util
import os
from importlib import resources
from pathlib import Path
from types import ModuleType

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from lstmkit.utils.hydra import CONFIG_MODULE

SCRIPTS = Path(__file__).parents[1] / "scripts"
EXPERIMENTS = sorted(p.name.removesuffix(".yaml") for p in (resources.files(CONFIG_MODULE) / "experiment").iterdir()
                     if p.name.endswith(".yaml"))
QUIET = ["extras.print_config=false", "callbacks.rich_progress_bar=null", "callbacks.model_summary=null"]


def compose_config(config_name: str, overrides: list[str], output_dir: Path | None = None) -> DictConfig:
    """Compose like ``@hydra.main`` does, with the run's output folder set to ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            cfg.paths.log_dir = str(output_dir)
            cfg.paths.work_dir = os.getcwd()
        HydraConfig().set_config(cfg)
    return cfg


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (its ``if __name__ == "__main__"`` part does not run)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
