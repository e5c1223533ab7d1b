"""Export the inference network of a trained experiment to ONNX or a ``torch.export`` program, with a JSON sidecar.

``python scripts/export.py ckpt_path=.../best.ckpt format=onnx|torch_export output=model.onnx [experiment=...]``
(or ``lstmkit-export``). The task is rebuilt from the checkpoint by :func:`lstmkit.utils.checkpoint.load_task` (the
safe loader every entry point uses), the data from the config as in ``scripts/eval.py``. Every LSTM becomes a
:class:`lstmkit.nn.TraceableLSTM` (the eval-mode recurrence as a scan: vanilla and variant layers alike), the network
is exported with dynamic batch and sequence length, and the export is checked on the first validation batch: the
exported model (onnxruntime, or the loaded ``torch.export`` program) must match the PyTorch model within
``tolerance`` (relative), else :class:`ExportMismatch` names the largest difference. The sidecar ``<output>.json``
holds what a caller needs to prepare inputs (docs/DEPLOY.md).

Unidirectional networks that carry state take it as explicit inputs and return it: a forecaster (direct strategy)
``x, h0, c0 [, future] -> forecast, h_n, c_n`` and a language model ``tokens, h0, c0 -> logits, h_n, c_n``, so a
server runs one step or chunk at a time (:func:`stream`). Bidirectional networks take ``lengths`` instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from lstmkit.data.prepared import PreparedDataModule
from lstmkit.nn import convert
from lstmkit.utils.checkpoint import load_task
from lstmkit.utils.hydra import hydra_entry, instantiate

FORMATS = ("onnx", "torch_export")


class ExportMismatch(AssertionError):
    """The exported model's outputs differ from PyTorch's by more than the tolerance."""


class StatefulLSTM(nn.Module):
    """An LSTM layer as a tensor-in, tensor-out network: ``x, h0, c0 [, lengths] -> y, h_n, c_n`` (shapes of
    ``torch.nn.LSTM``), the form a server exports to run one step or chunk at a time."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, h0: Tensor, c0: Tensor, lengths: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        y, (h_n, c_n) = self.layer(x, (h0, c0)) if lengths is None else self.layer(x, (h0, c0), lengths=lengths)
        return y, h_n, c_n


def layer_inference(layer: nn.Module, x: Tensor, lengths: Tensor | None = None) -> Inference:
    """The :class:`Inference` of a bare layer (:class:`lstmkit.nn.LSTM` or ``torch.nn.LSTM``) on example ``x``."""
    batch_axis, time_axis = (0, 1) if layer.batch_first else (1, 0)
    states = _zero_states(layer, x.shape[batch_axis], x)
    inputs = {"x": x, **states, **({"lengths": lengths} if lengths is not None else {})}
    dims = {"x": {batch_axis: "batch", time_axis: "time"}, "h0": {1: "batch"}, "c0": {1: "batch"},
            "lengths": {0: "batch"}}
    outputs = {"y": {batch_axis: "batch", time_axis: "time"}, "h_n": {1: "batch"}, "c_n": {1: "batch"}}
    return Inference(StatefulLSTM(layer).eval(), inputs, dims, outputs)


class StatefulForecaster(nn.Module):
    """A direct-strategy :class:`~lstmkit.models.forecasting.LSTMForecaster` with its LSTM state as inputs and outputs:
    ``x (B, T, input_size), h0, c0 (num_layers, B, hidden_size) [, future (B, horizon, future_size)] -> forecast
    (B, horizon, outputs), h_n, c_n``. With zero states and a whole window it is the network's own forward; fed the
    window in chunks with the state carried, its last forecast is the same."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if net.strategy != "direct" or net.relative:
            raise ValueError(f"net: only a direct, non-relative forecaster streams (relative=True shifts the whole "
                             f"window by its last value), got strategy={net.strategy!r}, relative={net.relative}")
        self.net = net

    def forward(self, x: Tensor, h0: Tensor, c0: Tensor, future: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        net = self.net
        _, (h_n, c_n) = net.lstm(x, (h0, c0))
        features = h_n[-1] if future is None else torch.cat([h_n[-1], future.flatten(1)], dim=1)
        return net.head(net.dropout(features)).view(-1, net.horizon, net.outputs), h_n, c_n


class StatefulLanguageModel(nn.Module):
    """:class:`~lstmkit.models.language_model.LSTMLanguageModel` with explicit states: ``tokens (B, T) int64, h0, c0
    (num_layers, B, hidden_size) -> logits (B, T, vocab_size), h_n, c_n``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, tokens: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits, (h_n, c_n) = self.net(tokens, (h0, c0))
        return logits, h_n, c_n


def stream(step: Callable[..., tuple], x: Tensor, state: tuple[Tensor, Tensor], chunk: int,
           *extra: Any) -> tuple[list, tuple[Tensor, Tensor]]:
    """Run ``step(x_chunk, h, c, *extra) -> (output, h, c)`` over ``x (B, T, ...)`` ``chunk`` steps at a time,
    carrying the state: a stateful exported model or :class:`StatefulForecaster`/:class:`StatefulLanguageModel`.
    Returns the outputs of every chunk and the final state."""
    if chunk < 1:
        raise ValueError(f"chunk: expected at least 1 step, got {chunk}")
    outputs = []
    h, c = state
    for start in range(0, x.shape[1], chunk):
        output, h, c = step(x[:, start: start + chunk], h, c, *extra)
        outputs.append(output)
    return outputs, (h, c)


@dataclass
class Inference:
    """What is exported: ``network`` (eval mode) called with ``inputs`` (in order), the dynamic ``dims`` of each input
    (``{axis: "batch" | "time"}``), the names of its outputs, and the task's fields for the sidecar."""

    network: nn.Module
    inputs: dict[str, Tensor]
    dims: dict[str, dict[int, str]]
    outputs: dict[str, dict[int, str]]  # output name -> its dynamic axes
    sidecar: dict[str, Any] = field(default_factory=dict)


def _zero_states(lstm: nn.Module, batch: int, like: Tensor) -> dict[str, Tensor]:
    layers = lstm.num_layers * (2 if lstm.bidirectional else 1)
    return {"h0": like.new_zeros(layers, batch, lstm.proj_size or lstm.hidden_size),
            "c0": like.new_zeros(layers, batch, lstm.hidden_size)}


def _scalers(datamodule) -> dict[str, dict[str, Any]]:
    """``{column: {"kind", "offset", "scale"}}`` with ``scaled = (value - offset) / scale`` for every scaled column
    (all of the package's scalers are affine: read off the transform of 0 and 1)."""
    found = {}
    for step in datamodule.pipeline.steps:
        for column in getattr(step, "scalers_", {}):
            zero, one = (float(step.transform_column(np.array([v]), column)[0]) for v in (0.0, 1.0))
            scale = 1.0 / (one - zero)
            found[column] = {"kind": step.kind, "offset": -zero * scale, "scale": scale}
    return found


def forecast_inference(task, datamodule, batch) -> Inference:
    x, future, _ = batch
    net = task.net
    fields = {"horizon": net.horizon, "values_per_step": net.outputs, "strategy": net.strategy,
              "relative": net.relative,
              "quantiles": list(task.hparams.quantiles) if task.hparams.loss == "quantile" else None}
    if hasattr(datamodule, "pipeline"):  # a built-in series (ForecastDataModule); files carry a "preparation"
        fields |= {"series": datamodule.series, "feature_order": [datamodule.target, *datamodule.past_covariates],
                   "future_columns": datamodule.future_columns, "input_length": datamodule.input_length,
                   "scalers": _scalers(datamodule)}
    with_future = {"future": future} if net.future_size else {}
    dims = {"x": {0: "batch", 1: "time"}, "future": {0: "batch"}}
    if net.strategy == "direct" and not net.relative:
        states = _zero_states(net.lstm, x.shape[0], x)
        return Inference(StatefulForecaster(net), {"x": x, **states, **with_future},
                         {**dims, "h0": {1: "batch"}, "c0": {1: "batch"}},
                         {"forecast": {0: "batch"}, "h_n": {1: "batch"}, "c_n": {1: "batch"}}, fields)
    return Inference(net, {"x": x, **with_future}, dims, {"forecast": {0: "batch"}}, fields)


def language_model_inference(task, datamodule, batch) -> Inference:
    tokens, _ = batch
    states = _zero_states(task.net.lstm, tokens.shape[0], tokens.float())
    return Inference(StatefulLanguageModel(task.net), {"tokens": tokens, **states},
                     {"tokens": {0: "batch", 1: "time"}, "h0": {1: "batch"}, "c0": {1: "batch"}},
                     {"logits": {0: "batch", 1: "time"}, "h_n": {1: "batch"}, "c_n": {1: "batch"}},
                     {"level": task.hparams.level})


def lengths_inference(input_name: str, outputs: dict[str, dict[int, str]]) -> Callable:
    """Networks called ``net(inputs (B, T, ...), lengths (B,))``: classifiers, taggers, the speech encoder."""

    def build(task, datamodule, batch) -> Inference:
        inputs, lengths = batch[0][:, : int(batch[1].max())], batch[1]  # the batch's own longest sequence
        return Inference(task.net, {input_name: inputs, "lengths": lengths},
                         {input_name: {0: "batch", 1: "time"}, "lengths": {0: "batch"}}, outputs,
                         {"padding_id": 0} if input_name == "tokens" else {})

    return build


def inference(task, datamodule, batch) -> Inference:
    """The :class:`Inference` of ``task`` (a :mod:`lstmkit.tasks` LightningModule) on one validation ``batch``."""
    from lstmkit.tasks.asr import SpeechRecognitionTask
    from lstmkit.tasks.classification import SequenceClassificationTask
    from lstmkit.tasks.forecasting import ForecastTask
    from lstmkit.tasks.language_model import LanguageModelTask
    from lstmkit.tasks.series_classification import SeriesClassificationTask
    from lstmkit.tasks.tagging import TaggingTask

    builders = [(ForecastTask, forecast_inference), (LanguageModelTask, language_model_inference),
                (SeriesClassificationTask, lengths_inference("x", {"logits": {0: "batch"}})),
                (SequenceClassificationTask, lengths_inference("tokens", {"logits": {0: "batch"},
                                                                          "attention": {0: "batch", 1: "time"}})),
                (TaggingTask, lengths_inference("tokens", {"logits": {0: "batch", 1: "time"}})),
                (SpeechRecognitionTask, lengths_inference("features", {
                    "log_probs": {0: "batch", 1: "ceil(time / stride)"}, "output_lengths": {0: "batch"}}))]
    for task_class, build in builders:
        if isinstance(task, task_class):
            found = build(task, datamodule, batch)
            found.network.eval()
            vocabs = task.hparams.get("vocabs") or {}
            found.sidecar = {"vocabularies": vocabs, **found.sidecar} if vocabs else found.sidecar
            if isinstance(datamodule, PreparedDataModule):  # a model trained on files: its fitted preparation
                found.sidecar["preparation"] = datamodule.preparation()
            return found
    raise ValueError(f"ckpt_path: {type(task).__name__} has no export (exported: forecasting, language models, "
                     "classification, tagging, speech recognition; a seq2seq decoder's beam search is a loop over "
                     "its own outputs)")


def _dynamic_shapes(found: Inference) -> tuple:
    """``Dim.AUTO`` on every dynamic axis: export infers the relations (the batch of ``x`` is that of ``h0``) and
    the ranges a network's own arithmetic needs (a CNN's window, a frame stride); :func:`_check_dynamic` then makes
    sure none was fixed."""
    return tuple({axis: torch.export.Dim.AUTO for axis in found.dims[key]} for key in found.inputs)


def _check_dynamic(program: torch.export.ExportedProgram, found: Inference) -> None:
    """Raise naming the input axis that the export fixed to the example's size."""
    placeholders = [node for node in program.graph.nodes if node.op == "placeholder"]
    user = [node for node in placeholders if node.name in program.graph_signature.user_inputs]
    for (name, dims), node in zip(((k, found.dims[k]) for k in found.inputs), user):
        shape = node.meta["val"].shape
        fixed = [f"{axis} ({label})" for axis, label in dims.items() if isinstance(shape[axis], int)]
        if fixed:
            raise ValueError(f"export: input {name!r} axis {', '.join(fixed)} was fixed to the example's size "
                             f"{tuple(shape)}: the network's forward treats it as a constant")


def export(found: Inference, output: Path, format: str) -> None:
    """Write ``found.network`` (its LSTMs converted to :class:`~lstmkit.nn.TraceableLSTM`) to ``output``."""
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {list(FORMATS)}, got {format!r}")
    traceable = convert(found.network, to="export").eval()
    args = tuple(found.inputs.values())
    program = torch.export.export(traceable, args, dynamic_shapes=_dynamic_shapes(found))
    _check_dynamic(program, found)
    output.parent.mkdir(parents=True, exist_ok=True)
    if format == "torch_export":
        torch.export.save(program, output)
        return
    for name in ("onnxscript", "onnx_ir"):  # their INFO lines (one per graph node) would flood a Hydra run's log
        logging.getLogger(name).setLevel(logging.WARNING)
    onnx_program = torch.onnx.export(program, args, input_names=list(found.inputs), output_names=list(found.outputs),
                                     dynamo=True, verbose=False)
    onnx_program.save(str(output))


def run_exported(path: Path, format: str, inputs: Sequence[Tensor], names: Sequence[str] | None = None) -> list:
    """The outputs of the exported model at ``path`` on ``inputs`` (``names``: the ONNX input names)."""
    if format == "torch_export":
        with torch.no_grad():
            outputs = torch.export.load(path).module()(*inputs)
        return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = names or [i.name for i in session.get_inputs()]
    return session.run(None, {name: t.numpy() for name, t in zip(names, inputs)})


def compare(expected: Sequence[Tensor], got: Sequence, names: Sequence[str], tolerance: float) -> dict:
    """``{output: {"max_abs_diff", "max_rel_diff"}}``; raises :class:`ExportMismatch` naming the largest difference
    when an element differs by more than ``tolerance · (|expected| + max |expected|)`` (relative, with a floor at the
    output's own scale so values near zero are not compared on their own tiny scale)."""
    report, worst = {}, None
    for name, want, have in zip(names, expected, got):
        want, have = want.detach().double(), torch.as_tensor(np.asarray(have)).double()
        if want.shape != have.shape:
            raise ExportMismatch(f"output {name!r}: exported shape {tuple(have.shape)}, PyTorch {tuple(want.shape)}")
        diff = (have - want).abs()
        scale = want.abs() + want.abs().max()
        ratio = diff / scale.clamp(min=torch.finfo(torch.float32).tiny)
        report[name] = {"max_abs_diff": float(diff.max()), "max_rel_diff": float(ratio.max())}
        index = np.unravel_index(int(ratio.argmax()), tuple(ratio.shape)) if ratio.numel() else ()
        if ratio.numel() and (worst is None or ratio.max() > worst[0]):
            worst = (float(ratio.max()), name, tuple(int(i) for i in index), float(have[index]), float(want[index]))
    if worst is not None and worst[0] > tolerance:
        ratio, name, index, have, want = worst
        raise ExportMismatch(f"the export differs from PyTorch: output {name!r} at index {index}: exported {have!r}, "
                             f"PyTorch {want!r}, relative difference {ratio:.3g} > tolerance {tolerance:g}")
    return report


def export_checked(found: Inference, output: Path, format: str, tolerance: float = 1e-5) -> dict:
    """:func:`export`, then :func:`compare` the exported model with PyTorch on ``found.inputs``; returns the report."""
    with torch.no_grad():
        expected = found.network(*found.inputs.values())
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    export(found, output, format)
    got = run_exported(output, format, list(found.inputs.values()), list(found.inputs))
    return compare(expected, got, list(found.outputs), tolerance)


def _describe(tensors: dict[str, Tensor], dims: dict[str, dict[int, str]]) -> dict:
    return {name: {"dtype": str(t.dtype).removeprefix("torch."),
                   "shape": [dims.get(name, {}).get(axis, size) for axis, size in enumerate(t.shape)]}
            for name, t in tensors.items()}


def _example_batch(datamodule) -> list[Tensor]:
    """The first validation batch, with at least 2 rows (an example of size 1 would fix the batch size)."""
    datamodule.prepare_data()
    datamodule.setup("validate")
    batch = list(next(iter(datamodule.val_dataloader())))
    return [torch.cat([t, t]) if t.shape[0] == 1 else t for t in batch]


def run(cfg: DictConfig) -> dict:
    """Export ``cfg.ckpt_path`` as ``cfg.format`` to ``cfg.output``; returns the sidecar (also written next to it)."""
    from lstmkit.train import prepare_run

    start = time.perf_counter()
    prepare_run(cfg)
    if cfg.format not in FORMATS:
        raise ValueError(f"format: expected one of {list(FORMATS)}, got {cfg.format!r}")
    if not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path: no checkpoint file at {cfg.ckpt_path!r}")
    datamodule = instantiate(cfg.data, "data")
    task_class = hydra.utils.get_class(cfg.model._target_)
    task = load_task(task_class, cfg.ckpt_path, "ckpt_path").eval()
    found = inference(task, datamodule, _example_batch(datamodule))
    output = Path(cfg.output)
    check = export_checked(found, output, cfg.format, cfg.tolerance)
    with torch.no_grad():
        produced = found.network(*found.inputs.values())
    produced = produced if isinstance(produced, (tuple, list)) else [produced]
    sidecar = {
        "format": cfg.format, "file": output.name, "checkpoint": str(cfg.ckpt_path), "task": type(task).__name__,
        "network": type(task.net).__name__, "inputs": _describe(found.inputs, found.dims),
        "outputs": _describe(dict(zip(found.outputs, produced)), found.outputs), **found.sidecar,
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "check": {"batch": "first validation batch", "tolerance": cfg.tolerance, "outputs": check},
    }
    path = output.with_name(output.name + ".json")
    path.write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"exported {cfg.ckpt_path} as {cfg.format} to {output} in {time.perf_counter() - start:.1f} s; "
          f"largest relative difference {max(v['max_rel_diff'] for v in check.values()):.2g}; sidecar {path}")
    return sidecar


main = hydra_entry(run, config_name="export")

if __name__ == "__main__":
    main()
