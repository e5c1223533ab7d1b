"""Checkpoint files: one safe loader for every entry point, and atomic writes.

**Loading** (:func:`load_checkpoint`; :func:`load_task` builds a task from a file). Every entry point that reads a
checkpoint goes through it: train's ``ckpt_path`` (Lightning reads it through :class:`AtomicCheckpointIO`) and
``init_from``, eval (``ckpt_path``, ``ensemble``), generate and predict. A file is read in three steps, and
nothing of it is unpickled before the first two pass:

1. it must be a complete zip archive written by ``torch.save``, every member's CRC intact: a truncated file (an
   interrupted copy), a damaged one, a foreign file, a TorchScript archive or torch's legacy format is refused,
   naming the file and what is wrong with it;
2. its pickle's globals (the functions and classes it would call, listed by ``pickletools`` without running
   anything) must all be in :data:`ALLOWED`, the types lstmkit stores: tensors and their storages,
   ``OrderedDict`` (state dicts) and ``Counter`` (``MultiStepLR``'s milestones). Anything else -- the
   ``posix.system`` of a crafted payload, but also types torch would allow by default -- is refused by name;
3. ``torch.load(weights_only=True)`` under ``torch.serialization.safe_globals(ALLOWED)``, explicitly, whatever
   torch's default is (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot override an explicit ``True``).

A task's hyperparameters name classes that its ``__init__`` instantiates (``net._target_``, the optimizer's); a
checkpoint could name any callable there, so :func:`load_task` accepts only lstmkit modules and torch optimizers
and schedulers (:data:`TARGET_PREFIXES`).

**Writing** (:class:`AtomicCheckpointIO`, Lightning's checkpoint plugin in every lstmkit trainer). Each checkpoint
is written to ``.<name>.partial`` in its folder, flushed and ``fsync``-ed, then renamed over ``<name>`` (atomic on
POSIX) and the folder is ``fsync``-ed: a kill at any moment leaves the previous checkpoint whole, plus at most a
stale ``.partial`` file, which the next save of that name overwrites.
"""

from __future__ import annotations

import collections
import os
import pickle
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import hydra
import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.plugins.io import TorchCheckpointIO

__all__ = ["ALLOWED", "AtomicCheckpointIO", "CheckpointError", "load_checkpoint", "load_task", "save_atomic"]

# tensors of every dtype lstmkit trains or stores in (fp32/64/16, bf16, integer, bool), their rebuild function,
# state dicts, MultiStepLR's milestones: everything else in a checkpoint is a number, string, list, tuple or dict
ALLOWED: tuple[Any, ...] = (
    torch._utils._rebuild_tensor_v2, collections.OrderedDict, collections.Counter,
    torch.FloatStorage, torch.DoubleStorage, torch.HalfStorage, torch.BFloat16Storage, torch.LongStorage,
    torch.IntStorage, torch.ShortStorage, torch.CharStorage, torch.ByteStorage, torch.BoolStorage,
)
ALLOWED_NAMES = frozenset(f"{obj.__module__}.{obj.__qualname__}" for obj in ALLOWED)
TARGET_PREFIXES = ("lstmkit.", "torch.optim.")
_TARGET_BASES = (torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler,
                 torch.optim.lr_scheduler.ReduceLROnPlateau)
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


class CheckpointError(ValueError):
    """A file that is not a checkpoint lstmkit can load; the message names the file and what is wrong."""


def _label(name: str, path: str | Path) -> str:
    return f"{name}={str(path)!r}"


def _pickle_globals(data: bytes) -> set[str]:
    """``module.name`` of every global the pickle ``data`` refers to (statically: nothing is executed)."""
    found, strings, memo, pushed = set(), [], {}, None  # pushed: the string the previous opcode pushed
    for opcode, arg, _ in pickletools.genops(data):
        name, string = opcode.name, None
        if name in ("GLOBAL", "INST"):
            found.add(arg.replace(" ", "."))
        elif name in _STRING_OPS:
            string = arg
        elif name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
            memo[len(memo) if name == "MEMOIZE" else arg] = pushed
            string = pushed
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            string = memo.get(arg)
        elif name == "STACK_GLOBAL":  # protocol 4+; torch.save never writes it, so it is never allowed
            found.add(f"{'.'.join(strings[-2:])} (STACK_GLOBAL)")
        if string is not None and name not in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
            strings.append(string)
        pushed = string
    return found


def _read_pickle(path: Path, label: str) -> bytes:
    """The ``data.pkl`` record of the ``torch.save`` archive at ``path``, after checking the archive."""
    with path.open("rb") as file:
        head = file.read(8)
    if not zipfile.is_zipfile(path):
        if not head:
            raise CheckpointError(f"{label}: empty (0 bytes), as after an interrupted write or copy")
        if head.startswith(b"PK\x03\x04"):
            raise CheckpointError(f"{label}: truncated or corrupt ({path.stat().st_size} bytes): it starts like the "
                                  "zip archive torch.save writes but its end (the archive's directory) is missing, "
                                  "as after an interrupted write or copy")
        if head[:1] == b"\x80":
            raise CheckpointError(f"{label}: a pickle in torch's legacy (non-zip) format; lstmkit reads the zip "
                                  "archives torch.save writes by default")
        raise CheckpointError(f"{label}: not a PyTorch checkpoint: expected the zip archive torch.save writes, "
                              f"found a file of {path.stat().st_size} bytes starting with {head!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = archive.namelist()
            if damaged is not None:
                raise CheckpointError(f"{label}: corrupt: the checksum of {damaged!r} inside it does not match")
            if any(name.endswith("constants.pkl") or "/code/" in name for name in names):
                raise CheckpointError(f"{label}: a TorchScript archive (torch.jit.save), not a training checkpoint")
            pickles = [name for name in names if name == "data.pkl" or name.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(f"{label}: a zip archive but not one torch.save wrote (no single data.pkl; "
                                      f"members: {names[:6]})")
            return archive.read(pickles[0])
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise CheckpointError(f"{label}: corrupt zip archive: {error}") from error


def _refusal(label: str, blocked: list[str]) -> CheckpointError:
    return CheckpointError(
        f"{label}: refused: it refers to {', '.join(repr(b) for b in blocked)}, which lstmkit checkpoints never "
        f"hold (they hold tensors, numbers, strings, lists and dicts; allowed: {sorted(ALLOWED_NAMES)}). "
        "A global outside this list could run code when unpickled, so nothing of the file was loaded")


def load_checkpoint(path: str | Path, name: str = "checkpoint", *, map_location: Any = "cpu",
                    require: tuple[str, ...] = (), mmap: bool = False) -> dict[str, Any]:
    """Read the checkpoint at ``path`` safely (module docstring) and return its dict.

    Args:
        path: a ``.ckpt`` file (a ``torch.save`` zip archive).
        name: what the file is in the caller's terms (``"ckpt_path"``, ``"init_from"``); errors start with
            ``<name>='<path>'``.
        map_location: as in ``torch.load`` (default: every tensor on the CPU).
        require: top-level keys that must be present (e.g. ``("state_dict",)``).
        mmap: map the tensors' storage instead of reading it (cheap when only the structure is needed).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError (a ``ValueError``): truncated, corrupt, foreign, refused (a global outside :data:`ALLOWED`)
            or lacking a ``require``-d key; the message says which.
    """
    path, label = Path(path), _label(name, path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no checkpoint file at {str(path)!r}")
    data = _read_pickle(path, label)
    try:
        blocked = sorted(_pickle_globals(data) - ALLOWED_NAMES)
    except ValueError as error:  # pickletools on a malformed stream
        raise CheckpointError(f"{label}: corrupt: its data.pkl is not a complete pickle ({error})") from error
    if blocked:
        raise _refusal(label, blocked)
    try:
        with torch.serialization.safe_globals(list(ALLOWED)):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:  # the weights-only unpickler refused something the scan let through
        raise _refusal(label, re.findall(r"GLOBAL ([\w.]+)", str(error)) or [str(error).splitlines()[0]]) from error
    except (RuntimeError, EOFError, ValueError, KeyError) as error:
        raise CheckpointError(f"{label}: cannot be read: {type(error).__name__}: {str(error).splitlines()[0]}") \
            from error
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{label}: holds a {type(checkpoint).__name__}, not a checkpoint dict")
    missing = [key for key in require if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{label}: not a Lightning checkpoint of the kind needed here: it has no "
                              f"{missing} (its keys: {sorted(map(str, checkpoint))[:12]})")
    return checkpoint


def _check_targets(value: Any, label: str, where: str = "hyper_parameters") -> None:
    """Refuse any ``_target_`` in ``value`` that is not a network, optimizer or scheduler class of lstmkit/torch."""
    if isinstance(value, Mapping):
        target = value.get("_target_")
        if target is not None:
            resolved = None
            if isinstance(target, str) and target.startswith(TARGET_PREFIXES):
                try:
                    resolved = hydra.utils.get_object(target)
                except (ImportError, AttributeError, ValueError):
                    resolved = None
            if not (isinstance(resolved, type) and issubclass(resolved, _TARGET_BASES)):
                raise CheckpointError(f"{label}: refused: {where}._target_ = {target!r}; a checkpoint may name only "
                                      f"network, optimizer and scheduler classes under {list(TARGET_PREFIXES)}")
        for key, item in value.items():
            _check_targets(item, label, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_targets(item, label, f"{where}[{i}]")


def load_task(task_class: type | str, path: str | Path, name: str = "ckpt_path", **overrides: Any):
    """The task a checkpoint stores, rebuilt from its hyperparameters and weights (on the CPU, in train mode).

    Args:
        task_class: a :class:`lstmkit.tasks.base.Task` subclass, or its import path (``"lstmkit.tasks…"``, e.g.
            read from the checkpoint itself: only lstmkit tasks are imported).
        path, name: the file, and what it is called in errors (see :func:`load_checkpoint`).
        **overrides: task arguments that replace the checkpoint's (e.g. ``test_beam_size=1``).
    """
    label = _label(name, path)
    if isinstance(task_class, str):
        if not task_class.startswith("lstmkit."):
            raise CheckpointError(f"{label}: refused: task {task_class!r} is not an lstmkit task")
        task_class = hydra.utils.get_class(task_class)
    # every lstmkit LightningModule is a lstmkit.tasks.base.Task; utils does not import tasks (docs/DESIGN.md §1)
    if not (isinstance(task_class, type) and issubclass(task_class, LightningModule)):
        raise TypeError(f"task_class: expected a subclass of lstmkit.tasks.base.Task, got {task_class!r}")
    checkpoint = load_checkpoint(path, name, require=("state_dict", "hyper_parameters"))
    hparams = {**checkpoint["hyper_parameters"], **overrides}
    _check_targets(hparams, label)
    task = task_class(**hparams)
    task.on_load_checkpoint(checkpoint)
    try:
        task.load_state_dict(checkpoint["state_dict"], strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{label}: its weights do not fit {task_class.__name__}: {error}") from error
    return task


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_atomic(write: Callable[[IO[bytes]], None], path: str | Path) -> None:
    """Write a file with ``write(file)`` so that ``path`` always holds either its old or its new content whole:
    ``.<name>.partial`` in the same folder, flushed and fsync-ed, renamed over ``path``, then the folder fsync-ed.
    On an exception the partial file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save``/``torch.load`` checkpoint plugin, with atomic local writes (:func:`save_atomic`)
    and :func:`load_checkpoint` for every read (``trainer.fit(ckpt_path=…)``, ``trainer.test(ckpt_path=…)``).
    Paths with a URL scheme (``s3://…``) are written by Lightning's own fsspec code."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_atomic(lambda file: torch.save(checkpoint, file), path)

    def load_checkpoint(self, path: str | Path, map_location: Any = "cpu",
                        weights_only: bool | None = None) -> dict[str, Any]:
        # weights_only is always True here, whatever the caller asks for
        return load_checkpoint(path, "ckpt_path", map_location=map_location)
