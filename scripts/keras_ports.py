"""The array examples of the Keras article ported to lstmkit, each trained and scored on held-out data.

``python scripts/keras_ports.py`` prints, per example, the lstmkit model's parameter count next to the Keras
model's (computed from Keras' formulas: one bias per gate; PyTorch keeps two) and, for the trained ones, the
held-out metric. See docs/KERAS.md. CPU, one thread, seed 0.
"""

from __future__ import annotations

from functools import partial

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import mean_squared_error, r2_score

from lstmkit.data.arrays import ArrayDataModule, predict_arrays
from lstmkit.data.prep import FillMissing, Pipeline, Scale
from lstmkit.forecast.metrics import forecast_metrics
from lstmkit.nn import LSTM
from lstmkit.tasks.forecasting import ForecastTask


def keras_lstm_params(inputs: int, units: int) -> int:
    return 4 * (units * (inputs + units) + units)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def windows(series: np.ndarray, length: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, length)`` and the next value ``y (N,)`` from origins every ``step``, as the article builds them."""
    starts = np.arange(0, len(series) - length, step)
    return np.stack([series[s : s + length] for s in starts]), series[starts + length]


def fit_regression(x, y, layers: int, epochs: int, test_share: float = 0.2) -> tuple[dict, ForecastTask, tuple]:
    """The article's model.fit(X, y) with the last ``test_share`` of the windows held out (and the 10 % before them
    validating), trained with Adam on MSE; test metrics on the held-out windows."""
    cut = int(len(x) * (1 - test_share))
    dm = ArrayDataModule(x[:cut], y[:cut], x_test=x[cut:], y_test=y[cut:], batch_size=32)
    net = {"_target_": "lstmkit.models.forecasting.LSTMForecaster", "input_size": 1, "hidden_size": 50,
           "num_layers": layers, "horizon": 1}
    task = ForecastTask(net=net, optimizer=partial(torch.optim.Adam, lr=1e-3), classical=None)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(task, dm)
    forecast = predict_arrays(task, x[cut:])[:, 0]
    return forecast_metrics(forecast, y[cut:]), task, (y[cut:], forecast)


def main() -> None:
    torch.set_num_threads(1)
    L.seed_everything(0, verbose=False)
    rows = []

    stacked = torch.nn.ModuleList([LSTM(1, 50, num_layers=2, batch_first=True), torch.nn.Linear(50, 1)])
    keras = keras_lstm_params(1, 50) + keras_lstm_params(50, 50) + 51
    rows.append(("stacked LSTM(50)x2 + Dense(1)", count(stacked), keras, "summary only"))

    bilstm = torch.nn.ModuleList([LSTM(1, 50, num_layers=2, bidirectional=True, batch_first=True),
                                  torch.nn.Linear(100, 1)])
    keras = 2 * (keras_lstm_params(1, 50) + keras_lstm_params(100, 50)) + 101
    rows.append(("BiLSTM(50)x2 + Dense(1)", count(bilstm), keras, "summary only"))

    x, y = windows(np.sin(np.arange(0, 100, 0.1)), 10)
    metrics, task, (actual, forecast) = fit_regression(x, y, layers=1, epochs=20)
    keras = keras_lstm_params(1, 50) + 51
    rows.append(("sine, LSTM(50) + Dense(1), 20 epochs", count(task.net), keras,
                 f"held-out MSE {metrics['mse']:.2e}, MAE {metrics['mae']:.4f}, R2 {metrics['r2']:.6f}"))
    sklearn = f"MSE {mean_squared_error(actual, forecast):.2e}, R2 {r2_score(actual, forecast):.6f}"

    fs, length = 8000, 100
    audio = np.sin(2 * np.pi * 440 * np.arange(0, 1.0, 1.0 / fs))
    x, y = windows(audio, length, step=length)
    metrics, task, _ = fit_regression(x, y, layers=2, epochs=10)
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
