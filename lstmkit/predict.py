"""Predictions on new data from a checkpoint: ``python scripts/predict.py ckpt_path=… data.path=FILE output=OUT.csv``
or ``lstmkit-predict``.

The checkpoint holds the network (the task's hyperparameters and weights) and the data preparation fitted at
training time (:class:`lstmkit.data.prepared.PreparedDataModule`: frequency, columns, per-series scalers,
vocabularies, feature statistics). Nothing is refitted, and a file that does not match the checkpoint (a missing
column, another frequency, a series or class the model never saw) is refused with what differs.

- forecasting (``experiment=forecast_csv``): ``horizon`` steps past the **end** of every series of FILE, dated by
  the series' frequency: columns ``unique_id, ds, y_hat`` (+ ``y_hat_q10``, … for quantile models), and
  ``OUT.png``: history, forecast and interval of the first ``plot_series`` series.
- text classification (``experiment=text_csv``): a file with the training text column → its rows with ``label``
  and ``p_<class>`` for every class.
- series classification (``experiment=series_csv``): a file of sequences in the training format → ``unique_id``,
  ``label`` and ``p_<class>`` per sequence (standardised with the training statistics).
- speech (``experiment=speech_csv``): a WAV file or a folder of them → ``path, transcript``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from lstmkit.data.panel import PanelForecastDataModule
from lstmkit.data.prep import CalendarFeatures, FillMissing
from lstmkit.data.prepared import checkpoint_preparation
from lstmkit.data.sequences import pad
from lstmkit.data.series_classification import pad_steps
from lstmkit.data.series_csv import read_sequences
from lstmkit.data.speech_csv import wav_features
from lstmkit.data.tables import TARGET, future_times, read_table
from lstmkit.data.text_csv import TextCSVDataModule, read_texts
from lstmkit.data.vocab import Vocabulary
from lstmkit.tasks.base import new_figure
from lstmkit.utils import checkpoint
from lstmkit.utils.hydra import hydra_entry

log = logging.getLogger(__name__)


def load_task(ckpt_path: str, preparation: dict[str, Any]):
    """The trained task, in eval mode on the CPU (only an lstmkit task class is imported)."""
    return checkpoint.load_task(preparation["task"], ckpt_path, "ckpt_path").eval()


def _same_frequency(found: str | int, trained: str | int, last) -> bool:
    """Two aliases mean the same grid when they give the same next dates (``QS-JAN`` and ``QS-OCT`` do)."""
    if isinstance(found, int) or isinstance(trained, int):
        return found == trained
    return future_times(last, found, 4).equals(future_times(last, trained, 4))


def forecast_inputs(preparation: dict[str, Any], path: str) -> tuple[list[str], list[pd.Index], np.ndarray,
                                                                      np.ndarray, list[pd.Series]]:
    """``(ids, future times per series, x (S, input_length, input_size), future (S, horizon, future_size),
    history per series)`` of every series of ``path``, prepared with the checkpoint's scalers."""
    config = preparation["config"]
    settings = {k: config[k] for k in ("format", "id_column", "time_column", "target", "past_covariates", "calendar",
                                       "input_length", "horizon", "season", "fill", "scaler")}
    reader = PanelForecastDataModule(path=path, **settings)
    try:
        series, freq = reader.read()
    except ValueError as error:
        if "could not infer a frequency" not in str(error):
            raise
        reader.freq = config["freq"]
        series, freq = reader.read()
    last = next(iter(series.values())).index[-1]
    if not _same_frequency(freq, config["freq"], last):
        raise ValueError(f"{path}: the series have frequency {freq!r}, the model was trained on {config['freq']!r}")
    unknown = [key for key in series if key not in preparation["series"]]
    if unknown:
        raise ValueError(f"{path}: series {unknown[:5]}{' …' if len(unknown) > 5 else ''} were not in the training "
                         f"file; the model knows {list(preparation['series'])[:10]} (each series has its own scaler)")
    columns, length, horizon = [TARGET, *config["past_covariates"]], config["input_length"], config["horizon"]
    xs, futures, times, histories = [], [], [], []
    for key, frame in series.items():
        if frame[columns].isna().any().any():
            if config["fill"] is None:
                raise ValueError(f"{path}: series {key!r} has missing values; the model was trained with fill=null")
            frame = FillMissing(config["fill"], columns=columns).fit(frame).transform(frame)
            log.info("%s: series %r: missing values filled (%s)", path, key, config["fill"])
        if len(frame) < length:
            raise ValueError(f"{path}: series {key!r} has {len(frame)} time steps; the model reads the last "
                             f"input_length = {length}")
        window = frame[columns].to_numpy(np.float64)[-length:]
        lines = preparation["series"][key]
        xs.append(np.stack([lines[c][0] * window[:, i] + lines[c][1] for i, c in enumerate(columns)], axis=-1))
        ahead = future_times(frame.index[-1], freq, horizon)
        calendar = CalendarFeatures(config["calendar"]).fit(pd.DataFrame(index=ahead)).transform(
            pd.DataFrame(index=ahead)) if config["calendar"] else pd.DataFrame(index=ahead)
        futures.append(calendar.to_numpy(np.float64))
        times.append(ahead)
        histories.append(frame[TARGET])
    return list(series), times, np.stack(xs), np.stack(futures), histories


def predict_forecast(task, preparation: dict[str, Any], path: str) -> tuple[pd.DataFrame, list[pd.Series]]:
    """Forecasts past the end of every series of ``path``: ``unique_id, ds, y_hat[, y_hat_q…]`` and the histories."""
    ids, times, x, future, histories = forecast_inputs(preparation, path)
    with torch.no_grad():
        out = task.net(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(future, dtype=torch.float32))
    lines = np.array([preparation["series"][key][TARGET] for key in ids])  # (S, 2): slope, intercept
    values = (out.double().numpy() - lines[:, 1, None, None]) / lines[:, 0, None, None]  # (S, horizon, outputs)
    values = np.sort(values, axis=-1)  # quantile forecasts may cross (as in ForecastTask)
    columns = {"y_hat": values[..., task.point_index].ravel()}
    if task.hparams.loss == "quantile":
        columns.update({f"y_hat_q{100 * q:g}": values[..., i].ravel() for i, q in enumerate(task.hparams.quantiles)})
    horizon = values.shape[1]
    frame = pd.DataFrame({"unique_id": np.repeat(ids, horizon), "ds": np.concatenate([np.asarray(t) for t in times]),
                          **columns})
    return frame, histories


def forecast_plot(frame: pd.DataFrame, histories: list[pd.Series], input_length: int, freq, count: int, path: Path):
    """History (the last ``3 · input_length`` steps), forecast and the outer-quantile interval of the first
    ``count`` series, one panel each, saved as PNG."""
    ids = list(dict.fromkeys(frame["unique_id"]))[:count]
    figure = new_figure(figsize=(9, 2.6 * len(ids)), layout="tight")
    if figure is None or not ids:
        return
    quantiles = [c for c in frame.columns if c.startswith("y_hat_q")]
    for row, key in enumerate(ids):
        part, history = frame[frame["unique_id"] == key], histories[row][-3 * input_length:]
        ahead = part["ds"].to_numpy()
        axes = figure.add_subplot(len(ids), 1, row + 1)
        axes.plot(history.index, history.to_numpy(), color="black", lw=1, label="history")
        axes.plot(ahead, part["y_hat"], color="C0", label="forecast")
        if len(quantiles) > 1:
            axes.fill_between(ahead, part[quantiles[0]], part[quantiles[-1]], color="C0", alpha=0.25,
                              label=f"{quantiles[0][7:]}–{quantiles[-1][7:]} % interval")
        axes.set_title(f"{key}: forecast from {part['ds'].iloc[0]} (steps of {freq})", fontsize="small")
        axes.legend(fontsize="x-small")
    figure.savefig(path, dpi=100)


def predict_text(task, preparation: dict[str, Any], path: str, batch_size: int) -> pd.DataFrame:
    """The file's rows with ``label`` and one ``p_<class>`` probability column per class."""
    config = preparation["config"]
    texts, _ = read_texts(path, config["text_column"], None)
    tokenizer = TextCSVDataModule(max_length=config["max_length"], truncate=config["truncate"],
                                  token_pattern=config["token_pattern"])
    vocab, classes = Vocabulary(task.hparams.vocabs["tokens"]), task.hparams.vocabs["classes"]
    encoded = [vocab.encode(tokenizer.cut(tokenizer.words(t)) or ["<unk>"]) for t in texts]
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            tokens, lengths = pad(encoded[start : start + batch_size])
            logits, _ = task.net(tokens, lengths)  # (B, C)
            probabilities.append(logits.softmax(-1).double().numpy())
    return class_table(read_table(path), np.concatenate(probabilities), classes)


def predict_series(task, preparation: dict[str, Any], path: str, batch_size: int) -> pd.DataFrame:
    """``unique_id`` (the sequence id; the line number for .ts files), ``label`` and ``p_<class>`` per sequence."""
    config = preparation["config"]
    ids, sequences, _, _ = read_sequences(path, config["id_column"], config["step_column"], None, config["features"])
    x, lengths = pad_steps(sequences)  # (N, T, F), (N,)
    if preparation["mean"] is not None:
        mean, std = torch.tensor(preparation["mean"]), torch.tensor(preparation["std"])
        x = torch.where((torch.arange(x.shape[1]) < lengths[:, None])[..., None], (x - mean) / std, 0.0)
    with torch.no_grad():
        probabilities = torch.cat([task.net(x[i : i + batch_size], lengths[i : i + batch_size]).softmax(-1)
                                   for i in range(0, len(x), batch_size)]).double().numpy()
    return class_table(pd.DataFrame({"unique_id": ids}), probabilities, task.hparams.vocabs["classes"])


def predict_speech(task, preparation: dict[str, Any], path: str, batch_size: int) -> pd.DataFrame:
    """``path, transcript`` (greedy CTC decoding) of a WAV file or of every ``*.wav`` in a folder (sorted)."""
    source = Path(path)
    files = sorted(source.glob("*.wav")) if source.is_dir() else [source]
    if not files or not files[0].exists():
        raise FileNotFoundError(f"data.path: no WAV file at {path!r} (a .wav file or a folder of them)")
    config = preparation["config"]
    mean, std = (None, None) if preparation["mean"] is None else map(torch.tensor, (preparation["mean"],
                                                                                    preparation["std"]))
    transcripts = []
    for start in range(0, len(files), batch_size):
        features = [wav_features(f, config["front_end"]) for f in files[start : start + batch_size]]
        if config["normalize"] == "global":
            features = [(f - mean) / std for f in features]
        elif config["normalize"] == "utterance":
            features = [(f - f.mean(0)) / f.std(0).clamp(min=1e-5) for f in features]
        lengths = torch.tensor([len(f) for f in features])
        padded = torch.nn.utils.rnn.pad_sequence(features, batch_first=True)  # (B, T, n_mels)
        transcripts += task.transcribe(padded, lengths)
    return pd.DataFrame({"path": [str(f) for f in files], "transcript": transcripts})


def class_table(frame: pd.DataFrame, probabilities: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """``frame`` with ``label`` (the most probable class) and ``p_<class>`` columns, from ``probabilities (N, C)``."""
    return frame.assign(label=np.asarray(classes, dtype=object)[probabilities.argmax(-1)],
                        **{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)})


def run(cfg: DictConfig) -> pd.DataFrame:
    """Predict ``cfg.data.path`` with ``cfg.ckpt_path``; writes ``cfg.output`` and returns the predictions."""
    if not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path: no checkpoint file at {cfg.ckpt_path!r}")
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    preparation = checkpoint_preparation(checkpoint.load_checkpoint(cfg.ckpt_path, "ckpt_path"), cfg.ckpt_path)
    task = load_task(cfg.ckpt_path, preparation)
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    kind = preparation["kind"]
    if kind == "forecast":
        frame, histories = predict_forecast(task, preparation, cfg.data.path)
        if cfg.plot_series:
            config = preparation["config"]
            forecast_plot(frame, histories, config["input_length"], config["freq"], cfg.plot_series,
                          output.with_suffix(".png"))
    elif kind == "text_classification":
        frame = predict_text(task, preparation, cfg.data.path, cfg.batch_size)
    elif kind == "series_classification":
        frame = predict_series(task, preparation, cfg.data.path, cfg.batch_size)
    elif kind == "speech":
        frame = predict_speech(task, preparation, cfg.data.path, cfg.batch_size)
    else:
        raise ValueError(f"{cfg.ckpt_path}: no predictor for a {kind!r} checkpoint")
    frame.to_csv(output, index=False)
    print(f"predictions: {output} ({len(frame)} rows)")
    return frame


main = hydra_entry(run, config_name="predict")

if __name__ == "__main__":
    main()
