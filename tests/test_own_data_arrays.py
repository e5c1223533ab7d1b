"""ArrayDataModule with a plain lightning.Trainer and predict_arrays, as the Keras examples use model.fit(x, y)."""

from __future__ import annotations

from functools import partial

import lightning as L
import numpy as np
import pytest
import torch

from lstmkit.data.arrays import ArrayDataModule, predict_arrays
from lstmkit.tasks.forecasting import ForecastTask
from lstmkit.tasks.series_classification import SeriesFileClassificationTask


def trainer(epochs):
    return L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False)


def trends(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = (2 * labels[:, None] - 1) * np.arange(10)[None] / 5 + rng.normal(0, 0.3, (n, 10))
    return np.stack([x, rng.normal(0, 1, (n, 10))], axis=-1), labels  # (N, 10, 2), (N,)


def test_classification_from_arrays(tmp_path):
    L.seed_everything(0)
    x, y = trends(96, 0)
    dm = ArrayDataModule(x, y, batch_size=16)
    net = {"_target_": "lstmkit.models.cnn_lstm.LSTMClassifier", "num_classes": None, "input_size": None,
           "hidden_size": 8}
    task = SeriesFileClassificationTask(net=net, optimizer=partial(torch.optim.Adam, lr=0.02))
    trainer(8).fit(task, dm)
    assert task.net.lstm.input_size == 2 and task.hparams.vocabs["classes"] == ["0", "1"]
    x_new, y_new = trends(40, 1)
    probabilities = predict_arrays(task, x_new)
    assert probabilities.shape == (40, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-6)
    assert (probabilities.argmax(1) == y_new).mean() >= 0.9


def test_regression_from_arrays_beats_the_mean():
    L.seed_everything(0)
    series = np.sin(np.arange(0, 60, 0.1))
    x = np.stack([series[i : i + 10] for i in range(len(series) - 10)])  # (N, 10): windows
    y = series[10:]  # the next value
    cut = 400
    dm = ArrayDataModule(x[:cut], y[:cut], x_test=x[cut:], y_test=y[cut:], batch_size=32)
    net = {"_target_": "lstmkit.models.forecasting.LSTMForecaster", "input_size": 1, "hidden_size": 16,
           "num_layers": 1, "horizon": 1}
    task = ForecastTask(net=net, optimizer=partial(torch.optim.Adam, lr=0.01), classical=None)
    fit = trainer(15)
    fit.fit(task, dm)
    tested = fit.test(task, dm, verbose=False)[0]
    forecast = predict_arrays(task, x[cut:])  # (N, 1)
    mse = float(np.mean((forecast[:, 0] - y[cut:]) ** 2))
    assert mse < 0.05 * y[cut:].var()
    assert tested["test/mse"] == pytest.approx(mse, rel=1e-4)


def test_array_errors():
    x, y = trends(20, 0)
    with pytest.raises(ValueError, match=r"y_train: expected 18 targets \(one per row of x_train\), got 17"):
        ArrayDataModule(x[:18], y[:17], x_val=x[18:], y_val=y[18:])
    with pytest.raises(ValueError, match=r"x_val and y_val: give both or neither"):
        ArrayDataModule(x, y, x_val=x)
    with pytest.raises(ValueError, match=r"x_train: expected \(samples, steps\) or \(samples, steps, features\)"):
        ArrayDataModule(x[:, 0, 0], y)
    with pytest.raises(ValueError, match=r"y_val: classes \['7'\] do not occur in y_train"):
        ArrayDataModule(x, y, x_val=x[:2], y_val=np.array([7, 0]))
