"""Checkpoint files (lstmkit.utils.checkpoint): every entry point refuses a file whose pickle would run code, without
running any of it; truncated, damaged and foreign files fail with the file and what is wrong; writes are atomic
(a SIGKILL at any point of a save leaves the previous checkpoint loadable)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import fsspec
import lightning as L
import pytest
import torch
from helpers import QUIET, compose_config

from lstmkit import eval as lstmkit_eval
from lstmkit import export, generate, predict, train
from lstmkit.utils.checkpoint import AtomicCheckpointIO, CheckpointError, load_checkpoint, load_task, save_atomic

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling it calls ``function(argument)``: os.system or exec, creating ``marker``."""

    def __init__(self, function, argument: str) -> None:
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def payloads(marker: Path) -> dict[str, Payload]:
    """``{pattern of the global's name in the pickle: payload}`` (protocol 2 names builtins ``__builtin__``)."""
    return {"posix.system": Payload(os.system, f"touch {marker}"),
            "(builtins|__builtin__).exec": Payload(exec, f"open({str(marker)!r}, 'w').close()")}


def checkpoint_like(extra: dict) -> dict:
    """A dict shaped like a Lightning checkpoint (the keys every entry point looks for) plus ``extra``."""
    return {"state_dict": {"net.weight": torch.zeros(2)}, "optimizer_states": [], "loops": {},
            "hyper_parameters": {}, "epoch": 0, "global_step": 0, **extra}


def entry_points(tmp_path: Path) -> dict:
    """``{name: function(path)}``: every entry point that reads a checkpoint, given ``path`` for it."""
    out = tmp_path / "out"
    return {
        "train ckpt_path": lambda p: train.run(compose_config("train", [*QUIET, f"ckpt_path={p}"], out)),
        "train init_from": lambda p: train.run(compose_config("train", [*QUIET, f"init_from={p}"], out)),
        "fit/test through the trainer": lambda p: L.Trainer(
            plugins=[AtomicCheckpointIO()], logger=False, enable_checkpointing=False).strategy.load_checkpoint(p),
        "eval ckpt_path": lambda p: lstmkit_eval.run(compose_config("eval", [*QUIET[:1], f"ckpt_path={p}"], out)),
        "generate": lambda p: generate.run(compose_config("generate", [f"ckpt_path={p}"], out)),
        "predict": lambda p: predict.run(compose_config("predict", [f"ckpt_path={p}", "data.path=x.csv"], out)),
        "export": lambda p: export.run(compose_config("export", [*QUIET[:1], f"ckpt_path={p}",
                                                                f"output={out / 'model.onnx'}"], out)),
    }


ENTRY_POINTS = list(entry_points(Path(".")))  # train (twice), the trainer, eval, generate, predict, export


def refuses_payloads(tmp_path: Path, load, protocol: int = 2) -> None:
    marker = tmp_path / "marker"
    for blocked, payload in payloads(marker).items():
        path = tmp_path / f"{payload.function.__name__}.ckpt"
        torch.save(checkpoint_like({"callbacks": {"x": payload}}), path, pickle_protocol=protocol)
        with pytest.raises(CheckpointError, match=rf"'{path}'.*refused.*{blocked}") as error:
            load(path)
        assert "could run code" in str(error.value)
        assert not marker.exists(), "the payload ran"
    # the control: the same payload does run when unpickled without the guard
    pickle.loads(pickle.dumps(payloads(marker)["posix.system"]))
    assert marker.exists()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_points_refuse_a_pickle_payload_without_running_it(tmp_path, entry):
    refuses_payloads(tmp_path, entry_points(tmp_path)[entry])


def test_a_protocol_4_payload_is_refused_too(tmp_path):  # STACK_GLOBAL instead of GLOBAL opcodes
    refuses_payloads(tmp_path, load_checkpoint, protocol=4)


def test_types_torch_allows_by_default_but_lstmkit_never_stores_are_refused(tmp_path):
    path = tmp_path / "size.ckpt"
    torch.save(checkpoint_like({"shape": torch.Size([2, 3]), "kinds": {"a", "b"}}), path)
    torch.load(path, weights_only=True)  # torch's own allow-list takes it
    with pytest.raises(CheckpointError, match=r"refused.*'__builtin__.set', 'torch.Size'"):
        load_checkpoint(path)


def damaged_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """``{kind: (path, expected message)}``: a truncated, a bit-flipped, a foreign, a legacy-format file."""
    good = tmp_path / "good.ckpt"
    torch.save(checkpoint_like({"big": torch.arange(4096.0)}), good)
    data = good.read_bytes()
    files = {"truncated": (data[: len(data) // 2], r"truncated or corrupt.*interrupted write"),
             "foreign": (b"date,value\n2024-01-01,3\n", r"not a PyTorch checkpoint.*b'date,val")}
    with zipfile.ZipFile(good) as archive:  # one byte of the tensor's data flipped
        info = archive.getinfo(next(n for n in archive.namelist() if n.endswith("data/1")))
    flipped = bytearray(data)
    header = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little") + \
        int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    flipped[info.header_offset + 30 + header + 100] ^= 0x10
    files["bit flip"] = (bytes(flipped), r"corrupt: the checksum of '.*data/1' inside it does not match")
    paths = {}
    for kind, (content, message) in files.items():
        path = tmp_path / f"{kind.replace(' ', '_')}.ckpt"
        path.write_bytes(content)
        paths[kind] = (path, message)
    legacy = tmp_path / "legacy.ckpt"
    torch.save(checkpoint_like({}), legacy, _use_new_zipfile_serialization=False)
    paths["legacy"] = (legacy, r"a pickle in torch's legacy \(non-zip\) format")
    return paths


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_points_name_the_file_and_what_is_wrong(tmp_path, entry):
    for path, message in damaged_files(tmp_path).values():
        with pytest.raises(CheckpointError, match=rf"'{path}': {message}"):
            entry_points(tmp_path)[entry](path)


def test_a_torch_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"lstm.weight_ih_l0": torch.zeros(4, 2)}, path)  # a bare state dict
    with pytest.raises(CheckpointError, match=r"init_from='.*weights.pt': not a Lightning checkpoint.*\['state_dict'\]"
                                              r".*lstm.weight_ih_l0"):
        train.run(compose_config("train", [*QUIET, f"init_from={path}"], tmp_path))
    torch.save({"state_dict": {}, "epoch": 0}, path)  # as ModelCheckpoint(save_weights_only=True) writes
    with pytest.raises(CheckpointError, match=r"ckpt_path=.*'optimizer_states', 'loops'"):
        train.run(compose_config("train", [*QUIET, f"ckpt_path={path}"], tmp_path))
    with pytest.raises(FileNotFoundError, match=r"ckpt_path: no checkpoint file at '.*nothing.ckpt'"):
        train.run(compose_config("train", [*QUIET, f"ckpt_path={tmp_path / 'nothing.ckpt'}"], tmp_path))


def test_load_task_refuses_targets_outside_lstmkit_networks_and_torch_optimizers(tmp_path):
    marker = tmp_path / "marker"
    for target in ("os.system", "lstmkit.utils.hydra.instantiate", "subprocess.Popen"):
        path = tmp_path / "targets.ckpt"
        net = {"_target_": "lstmkit.models.forecasting.LSTMForecaster", "input_size": 1, "hidden_size": 4,
               "encoder": {"_target_": target, "_args_": [f"touch {marker}"]}}
        torch.save(checkpoint_like({"hyper_parameters": {"net": net, "optimizer": {}}}), path)
        with pytest.raises(CheckpointError, match=rf"refused: hyper_parameters.net.encoder._target_ = '{target}'"):
            load_task("lstmkit.tasks.forecasting.ForecastTask", path)
    with pytest.raises(CheckpointError, match=r"refused: task 'subprocess.Popen' is not an lstmkit task"):
        load_task("subprocess.Popen", path)
    assert not marker.exists()


def test_save_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "last.ckpt"
    save_atomic(lambda file: file.write(b"old"), path)

    def fail(file):
        file.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_atomic(fail, path)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_remote_paths_are_written_by_lightnings_fsspec_code():
    AtomicCheckpointIO().save_checkpoint({"a": torch.ones(2)}, "memory://runs/last.ckpt")
    with fsspec.open("memory://runs/last.ckpt", "rb") as file:
        assert torch.equal(torch.load(file, weights_only=True)["a"], torch.ones(2))


# For each kill point: save checkpoint 1, then, in a forked child, save checkpoint 2 and die by SIGKILL at that
# point of the write (a number: after that many bytes of the temporary file). One interpreter start for all points.
KILLED_SAVES = """
import os, signal, sys, torch
from pathlib import Path
from lstmkit.utils import checkpoint as module
kill = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
class Killing:
    def __init__(self, file, limit): self.file, self.limit, self.written = file, limit, 0
    def __getattr__(self, name): return getattr(self.file, name)
    def __enter__(self): return self
    def __exit__(self, *exc): self.file.close()
    def write(self, data):
        if self.written + len(data) >= self.limit:
            self.file.write(bytes(data)[: self.limit - self.written]); self.file.flush(); kill()
        self.written += len(data)
        return self.file.write(data)
for point in sys.argv[2:]:
    path = Path(sys.argv[1]) / point / "last.ckpt"
    module.AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.full((5000,), 1.0)}}, path)
    child = os.fork()
    if child == 0:
        if point.isdigit():
            real_open = open
            module.open = lambda *args, **kwargs: Killing(real_open(*args, **kwargs), int(point))
        elif point == "before_rename":
            os.replace = kill
        else:
            module._fsync_folder = kill
        module.AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.full((5000,), 2.0)}}, path)
        os._exit(0)
    path.with_name("status").write_text(str(os.waitpid(child, 0)[1]))
"""
KILL_POINTS = ["0", "64", "10000", "before_rename", "before_folder_fsync"]  # the file is ~21 kB


def test_a_kill_during_a_save_leaves_a_loadable_checkpoint(tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVES, str(tmp_path), *KILL_POINTS], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for point in KILL_POINTS:
        folder = tmp_path / point
        status = int((folder / "status").read_text())
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (point, status)
        value = 2.0 if point == "before_folder_fsync" else 1.0  # renamed already: the new one, complete
        assert torch.equal(load_checkpoint(folder / "last.ckpt")["state_dict"]["w"], torch.full((5000,), value))
        partial = folder / ".last.ckpt.partial"
        if point.isdigit():
            assert partial.stat().st_size == int(point)  # the kill did come in the middle of the write
        else:
            assert partial.exists() == (point == "before_rename")
