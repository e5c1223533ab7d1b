"""Hydra glue: where the configs live, building lists of objects from config groups, and entry points
whose failures on a mistyped config key list the keys that exist.

The configs ship inside the package as ``lstmkit.conf`` (setup.py maps ``conf/`` to it), so
``pkg://lstmkit.conf`` finds them from a source checkout (editable install) and from an installed wheel.
"""

from __future__ import annotations

import difflib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

CONFIG_PATH = "pkg://lstmkit.conf"
CONFIG_MODULE = "lstmkit.conf"


def instantiate(cfg: DictConfig, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose errors read plainly: nested instantiations (a task building its
    network) wrap the real error in escaped reprs, so the innermost error is re-raised with its config key."""
    try:
        return hydra.utils.instantiate(cfg, **kwargs)
    except InstantiationException as error:
        root: BaseException = error
        while root.__cause__ is not None:
            root = root.__cause__
        try:
            plain = type(root)(f"{what} ({cfg.get('_target_')}): {root}")
        except Exception:  # an exception type with a different constructor: keep Hydra's message
            raise error from None
        raise plain from error


def instantiate_collection(cfg: DictConfig | None, what: str) -> list[Any]:
    """Instantiate every entry of a config group that holds named objects (``callbacks``, ``logger``).

    Entries set to null are skipped, so ``callbacks.early_stopping=null`` removes one callback.
    """
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{what}: expected a mapping of name -> object config, got {type(cfg).__name__}")
    built = []
    for name, entry in cfg.items():
        if entry is None:
            continue
        if not (isinstance(entry, DictConfig) and "_target_" in entry):
            raise ValueError(f"{what}.{name}: expected a config with _target_, got {OmegaConf.to_yaml(entry)!r}")
        built.append(instantiate(entry, f"{what}.{name}"))
    return built


def hydra_entry(task_function: Callable[[DictConfig], Any], config_name: str) -> Callable[[], None]:
    """A console-script ``main()`` running ``task_function`` under ``@hydra.main`` with the packaged configs.

    When Hydra exits with an error, the overrides are composed once more to find a mistyped key and print
    the keys valid at that level (Hydra's own message does not list them).
    """
    wrapped = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(task_function)

    def main() -> None:
        try:
            wrapped()
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                hint = explain_override_error(config_name, sys.argv[1:])
                if hint:
                    print(hint, file=sys.stderr)
            raise

    main.__doc__ = f"Run {task_function.__module__} with the packaged config {config_name!r} and CLI overrides."
    return main


def _target_arguments(node: DictConfig) -> list[str]:
    """Keyword arguments of the callable a config node targets ([] when it has none or cannot be imported)."""
    if "_target_" not in node:
        return []
    try:
        target = hydra.utils.get_object(node._target_)
        parameters = inspect.signature(target).parameters.values()
    except Exception:  # an unimportable target is reported by the instantiation itself
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]


_BAD_KEY = re.compile(r"Could not override '([^']+)'|Key '([^']+)' is not in struct\s+full_key: (\S+)")


def explain_override_error(config_name: str, args: Sequence[str]) -> str | None:
    """If composing ``args`` fails on a key that does not exist, say which keys exist at that level."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    overrides = [a for a in args if not a.startswith("-") and "=" in a and not a.lstrip("+~").startswith("hydra")]
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        try:
            compose(config_name=config_name, overrides=overrides)
            return None
        except HydraException as error:
            text = f"{error} {error.__cause__ or ''}"
        match = _BAD_KEY.search(text)
        if not match:
            return None
        bad_key = match.group(1) or match.group(3)
        others = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != bad_key]
        try:
            cfg = compose(config_name=config_name, overrides=others)
        except HydraException:
            return None
    parent_path, _, leaf = bad_key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_path) if parent_path else cfg
    if not isinstance(parent, DictConfig):
        return None
    valid = sorted(str(k) for k in parent.keys())
    where = f"'{parent_path}'" if parent_path else "the top level"
    accepted = _target_arguments(parent)
    extra = sorted(set(accepted) - set(valid))
    close = difflib.get_close_matches(leaf, valid + extra, n=3)
    lines = [f"Unknown config key '{bad_key}'. Valid keys at {where}: {', '.join(valid)}."]
    if extra:
        lines.append(f"{parent._target_} also accepts (add with '+{parent_path}.<name>=...'): {', '.join(extra)}.")
    if close:
        lines.append(f"Did you mean: {', '.join(f'{parent_path}.{c}' if parent_path else c for c in close)}?")
    lines.append("To add a new key on purpose, prefix the override with '+'.")
    return "\n".join(lines)
