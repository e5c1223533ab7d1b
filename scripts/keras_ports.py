"""The array examples of the Keras article ported to lstmkit, each trained and scored on held-out data.

``python scripts/keras_ports.py`` prints, per example, the lstmkit model's parameter count next to the Keras
model's (computed from Keras' formulas: one bias per gate; PyTorch keeps two) and, for the trained ones, the
held-out metric (the text generation example has no held-out text: its training accuracy). The Keras side, run by
Keras itself: ``scripts/keras_seed.py``. See docs/KERAS.md. CPU, one thread, ``--seed`` (default 0) seeds the
models (the data are fixed); ``--keras-init`` trains from Keras' initial weights instead of PyTorch's.
"""

from __future__ import annotations

import argparse
from functools import partial

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import mean_squared_error, r2_score

from lstmkit.data.arrays import ArrayDataModule, predict_arrays
from lstmkit.data.prep import FillMissing, Pipeline, Scale
from lstmkit.forecast.metrics import forecast_metrics
from lstmkit.models.time_distributed import TimeDistributed
from lstmkit.nn import LSTM, keras_init_
from lstmkit.tasks.forecasting import ForecastTask
from lstmkit.tasks.series_classification import SeriesFileClassificationTask

TEXT = "Hello world, this is a sample text for LSTM networks in NLP."


def keras_lstm_params(inputs: int, units: int) -> int:
    return 4 * (units * (inputs + units) + units)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def windows(series: np.ndarray, length: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, length)`` and the next value ``y (N,)`` from origins every ``step``, as the article builds them."""
    starts = np.arange(0, len(series) - length, step)
    return np.stack([series[s : s + length] for s in starts]), series[starts + length]


class ArticleAttention(torch.nn.Module):
    """The article's attention model, ``x (B, T, 1) -> (B, T, 1)``: a BiLSTM(50), Keras' parameter-free dot-product
    ``Attention()([out, out])`` (softmax of ``out · outᵀ``, unscaled), then Dense(1, tanh) and Dense(1) per step."""

    def __init__(self, units: int = 50) -> None:
        super().__init__()
        self.lstm = LSTM(1, units, bidirectional=True, batch_first=True)
        self.squash, self.out = torch.nn.Linear(2 * units, 1), torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)                                              # (B, T, 2·units)
        context = torch.softmax(out @ out.transpose(1, 2), dim=-1) @ out   # (B, T, 2·units)
        return self.out(torch.tanh(self.squash(context)))                  # (B, T, 1)


class ArticleCNNLSTM(torch.nn.Module):
    """The article's ``TimeDistributed(Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Flatten) -> LSTM(50) -> Dense(1,
    sigmoid)``: ``clips (B, T, 3, side, side) -> probabilities (B, 1)``."""

    def __init__(self, side: int = 64) -> None:
        super().__init__()
        self.cnn = TimeDistributed(torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(),
                                                       torch.nn.MaxPool2d(2), torch.nn.Flatten()))
        self.lstm = LSTM(32 * ((side - 2) // 2) ** 2, 50, batch_first=True)
        self.head = torch.nn.Linear(50, 1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.cnn(clips))     # cnn: (B, T, features); h_n (1, B, 50)
        return torch.sigmoid(self.head(h_n[-1]))     # (B, 1)


def word_windows(text: str, length: int = 3) -> tuple[np.ndarray, np.ndarray, int]:
    """The article's Tokenizer, by hand as Keras 3 dropped it (lower case, punctuation dropped, ids from 1 in order
    of frequency then first occurrence): ``x (N, length)`` word ids as floats, the next id ``y (N,)`` int, and the
    vocabulary size + 1."""
    words = "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()
    counts = pd.Series(words).value_counts(sort=False)
    order = sorted(counts.index, key=lambda w: (-counts[w], words.index(w)))
    ids = np.array([order.index(w) + 1 for w in words])
    return (np.stack([ids[i : i + length] for i in range(len(ids) - length)]).astype(np.float32), ids[length:],
            len(order) + 1)


def fit_text_generation(epochs: int = 100, keras_weights: bool = False) -> tuple[float, SeriesFileClassificationTask]:
    """The article's LSTM(50) -> softmax over word ids fed as floats, Adam, cross-entropy, ``epochs`` on its only
    data, the one sentence (validated on the same windows, as it has nothing else); training accuracy and the task.
    The classes are the ids that occur as targets (Keras' softmax covers every id and 0)."""
    x, y, _ = word_windows(TEXT)
    dm = ArrayDataModule(x, y, x_val=x, y_val=y, batch_size=32)
    net = {"_target_": "lstmkit.models.cnn_lstm.LSTMClassifier", "num_classes": None, "input_size": None,
           "hidden_size": 50}
    task = SeriesFileClassificationTask(net=net, optimizer=partial(torch.optim.Adam, lr=1e-3))
    trainer(epochs, keras_weights).fit(task, dm)
    predicted = np.array(task.hparams.vocabs["classes"])[predict_arrays(task, x).argmax(1)]
    return float((predicted == y.astype(str)).mean()), task


class KerasInit(L.Callback):
    """:func:`lstmkit.nn.keras_init_` on the task's network when fitting starts (after layers sized from the data
    are built)."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        keras_init_(pl_module.net)


def trainer(epochs: int, keras_weights: bool = False) -> L.Trainer:
    return L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, callbacks=[KerasInit()] if keras_weights else None)


def fit_regression(x, y, layers: int, epochs: int, test_share: float = 0.2,
                   keras_weights: bool = False) -> tuple[dict, ForecastTask, tuple]:
    """The article's model.fit(X, y) with the last ``test_share`` of the windows held out (and the 10 % before them
    validating), trained with Adam on MSE (``keras_weights``: from Keras' initial weights); test metrics on the
    held-out windows."""
    cut = int(len(x) * (1 - test_share))
    dm = ArrayDataModule(x[:cut], y[:cut], x_test=x[cut:], y_test=y[cut:], batch_size=32)
    net = {"_target_": "lstmkit.models.forecasting.LSTMForecaster", "input_size": 1, "hidden_size": 50,
           "num_layers": layers, "horizon": 1}
    task = ForecastTask(net=net, optimizer=partial(torch.optim.Adam, lr=1e-3), classical=None)
    trainer(epochs, keras_weights).fit(task, dm)
    forecast = predict_arrays(task, x[cut:])[:, 0]
    return forecast_metrics(forecast, y[cut:]), task, (y[cut:], forecast)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the models' weights and batch order")
    parser.add_argument("--keras-init", action="store_true", help="train from Keras' initialisers, not PyTorch's")
    args = parser.parse_args()
    torch.set_num_threads(1)
    L.seed_everything(args.seed, verbose=False)
    print(f"seed {args.seed}, one thread, {'Keras' if args.keras_init else 'PyTorch'} initialisers")
    rows = []

    stacked = torch.nn.ModuleList([LSTM(1, 50, num_layers=2, batch_first=True), torch.nn.Linear(50, 1)])
    keras = keras_lstm_params(1, 50) + keras_lstm_params(50, 50) + 51
    rows.append(("stacked LSTM(50)x2 + Dense(1)", count(stacked), keras, "summary only"))

    bilstm = torch.nn.ModuleList([LSTM(1, 50, num_layers=2, bidirectional=True, batch_first=True),
                                  torch.nn.Linear(100, 1)])
    keras = 2 * (keras_lstm_params(1, 50) + keras_lstm_params(100, 50)) + 101
    rows.append(("BiLSTM(50)x2 + Dense(1)", count(bilstm), keras, "summary only"))

    attention = ArticleAttention()
    keras = 2 * keras_lstm_params(1, 50) + 101 + 2
    rows.append(("attention: BiLSTM(50), dot-product, Dense x 2", count(attention), keras,
                 f"summary only; output {tuple(attention(torch.zeros(2, 10, 1)).shape)} per step"))
    clips = ArticleCNNLSTM()
    keras = 896 + keras_lstm_params(32 * 31 * 31, 50) + 51
    rows.append(("CNN-LSTM: per-frame Conv2D(32), pool -> LSTM(50)", count(clips), keras,
                 f"summary only; output {tuple(clips(torch.zeros(2, 10, 3, 64, 64)).shape)}"))

    accuracy, task = fit_text_generation(keras_weights=args.keras_init)
    x, _, outputs = word_windows(TEXT)
    rows.append((f"text generation, {len(x)} windows, 100 epochs", count(task.net),
                 keras_lstm_params(1, 50) + 51 * outputs, f"training accuracy {accuracy:.3f} (no held-out text)"))

    x, y = windows(np.sin(np.arange(0, 100, 0.1)), 10)
    metrics, task, (actual, forecast) = fit_regression(x, y, layers=1, epochs=20, keras_weights=args.keras_init)
    keras = keras_lstm_params(1, 50) + 51
    rows.append(("sine, LSTM(50) + Dense(1), 20 epochs", count(task.net), keras,
                 f"held-out MSE {metrics['mse']:.2e}, MAE {metrics['mae']:.4f}, R2 {metrics['r2']:.6f}"))
    sklearn = f"MSE {mean_squared_error(actual, forecast):.2e}, R2 {r2_score(actual, forecast):.6f}"

    fs, length = 8000, 100
    audio = np.sin(2 * np.pi * 440 * np.arange(0, 1.0, 1.0 / fs))
    x, y = windows(audio, length, step=length)
    metrics, task, _ = fit_regression(x, y, layers=2, epochs=10, keras_weights=args.keras_init)
    keras = keras_lstm_params(1, 50) + keras_lstm_params(50, 50) + 51
    rows.append((f"440 Hz tone, LSTM(50)x2, {len(x)} windows, 10 epochs", count(task.net), keras,
                 f"held-out MSE {metrics['mse']:.2e}; every target is {np.abs(y).max():.1e} or less"))

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"feature1": rng.normal(size=100), "feature2": rng.normal(size=100),
                         "target": rng.integers(0, 2, 100).astype(float)})
    data.loc[[3, 50], "feature1"] = np.nan
    train, test = data.iloc[:80], data.iloc[80:]
    pipeline = Pipeline("target", [FillMissing("ffill"), Scale("standard", columns=["feature1", "feature2"])])
    prepared = pipeline.fit(train).transform(test)
    rows.append(("pandas preparation, fitted on 80 training rows", 0, 0,
                 f"test rows kept {len(prepared)}/20, test feature1 mean {prepared['feature1'].mean():+.3f}"))

    print(f"{'example':55s} {'lstmkit params':>15s} {'Keras params':>13s}  result")
    for name, ours, theirs, result in rows:
        print(f"{name:55s} {ours:15d} {theirs:13d}  {result}")
    print(f"sine, scikit-learn's metrics of the same held-out forecasts: {sklearn}")


if __name__ == "__main__":
    main()
