"""The Keras snippets of the seed article, run as written and, where they are unsound, as the held-out version that
``scripts/keras_ports.py`` measures with lstmkit (same data, windows, split, layer sizes, epochs, batch size).

Keras is not a dependency of lstmkit; run this in a separate environment (nothing is downloaded at run time)::

    python -m venv /tmp/kerasvenv
    /tmp/kerasvenv/bin/pip install keras tensorflow-cpu keras-tuner tensorboard scikit-learn pandas
    /tmp/kerasvenv/bin/python scripts/keras_seed.py

One line per example: parameter counts for the summary-only models, training / held-out metrics for the trained
ones, the best trial of a small Keras Tuner random search. ``--seed`` (default 0) seeds the models and the tuner;
the data are fixed. TensorFlow on one thread. See docs/KERAS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections import Counter

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score  # noqa: E402

TEXT = "Hello world, this is a sample text for LSTM networks in NLP."


def report(name: str, result: str) -> None:
    print(f"{name:58s} {result}", flush=True)


def windows(series: np.ndarray, length: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, length, 1)`` and the next value ``y (N,)`` from origins every ``step``, as the article builds them."""
    starts = np.arange(0, len(series) - length, step)
    return np.stack([series[s : s + length] for s in starts])[..., None], series[starts + length]


def regressor(length: int, stacked: bool, units: int = 50) -> keras.Model:
    """The article's LSTM(50) [-> LSTM(50)] -> Dense(1), Adam, MSE."""
    stack = [layers.LSTM(units, return_sequences=True), layers.LSTM(units)] if stacked else [layers.LSTM(units)]
    model = keras.Sequential([keras.Input((length, 1)), *stack, layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def scores(actual: np.ndarray, predicted: np.ndarray) -> str:
    """MSE and MAE, and R² unless the targets are constant (the 440 Hz windows: R² is then meaningless)."""
    text = f"MSE {mean_squared_error(actual, predicted):.2e}, MAE {mean_absolute_error(actual, predicted):.4f}"
    if np.ptp(actual) < 1e-9:
        return text + f", every target within {np.abs(actual).max():.1e} of 0"
    return text + f", R2 {r2_score(actual, predicted):.6f}"


def fit_both(name: str, x: np.ndarray, y: np.ndarray, stacked: bool, epochs: int) -> None:
    """As written (fit and predict on every window) and held out (last 20 % tested, the 10 % of the training windows
    before them validating, as ``ArrayDataModule``); scikit-learn's metrics."""
    model = regressor(x.shape[1], stacked)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    report(f"{name}, as written", "on its training windows: " + scores(y, model.predict(x, verbose=0)[:, 0]))
    cut = int(0.8 * len(x))
    model = regressor(x.shape[1], stacked)
    model.fit(x[:cut], y[:cut], epochs=epochs, batch_size=32, validation_split=0.1, verbose=0)
    forecast = model.predict(x[cut:], verbose=0)[:, 0]
    report(f"{name}, held out", f"last {len(x) - cut} windows: " + scores(y[cut:], forecast))


def text_generation() -> None:
    """The article's tokenizer (lower-cased words, punctuation stripped, ids by frequency then first occurrence: the
    Keras 2 ``Tokenizer``, gone from Keras 3) and model, 100 epochs; the only data is the one sentence."""
    words = re.sub(r"[^\w\s]", " ", TEXT.lower()).split()   # Keras 3 has no Tokenizer; its default filters, by hand
    counts = Counter(words)   # ids from 1 by frequency, then first occurrence, as the Tokenizer numbers them
    index = {word: i + 1 for i, word in enumerate(sorted(counts, key=lambda w: (-counts[w], words.index(w))))}
    ids = np.array([index[w] for w in words])
    x = np.stack([ids[i : i + 3] for i in range(len(ids) - 3)])[..., None].astype("float32")   # (8, 3, 1)
    y = ids[3:]
    model = keras.Sequential([keras.Input((3, 1)), layers.LSTM(50), layers.Dense(len(index) + 1, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=100, verbose=0)
    accuracy = (model.predict(x, verbose=0).argmax(1) == y).mean()
    report(f"text generation, {len(x)} windows of {len(index)} words, 100 epochs",
           f"final training loss {history.history['loss'][-1]:.3f}, training accuracy {accuracy:.3f} "
           "(no held-out text)")


def summaries() -> None:
    stacked = keras.Sequential([keras.Input((10, 1)), layers.LSTM(50, return_sequences=True), layers.LSTM(50),
                                layers.Dense(1)])
    report("stacked LSTM(50)x2 + Dense(1)", f"{stacked.count_params():,} parameters")
    bilstm = keras.Sequential([keras.Input((10, 1)), layers.Bidirectional(layers.LSTM(50, return_sequences=True)),
                               layers.Bidirectional(layers.LSTM(50)), layers.Dense(1)])
    report("BiLSTM(50)x2 + Dense(1)", f"{bilstm.count_params():,} parameters")
    inputs = keras.Input((10, 1))
    # the article's code, with the missing Bidirectional import added; its state_h / state_c are never used
    lstm_out, *_ = layers.Bidirectional(layers.LSTM(50, return_sequences=True, return_state=True))(inputs)
    attention = layers.Dense(1, activation="tanh")(layers.Attention()([lstm_out, lstm_out]))
    attention = keras.Model(inputs, layers.Dense(1)(attention))
    report("attention: BiLSTM(50) -> Attention -> Dense(1, tanh) -> Dense(1)",
           f"{attention.count_params():,} parameters, output {attention.output.shape} (one value per step)")
    cnn_lstm = keras.Sequential([keras.Input((10, 64, 64, 3)),
                                 layers.TimeDistributed(layers.Conv2D(32, (3, 3), activation="relu")),
                                 layers.TimeDistributed(layers.MaxPooling2D((2, 2))),
                                 layers.TimeDistributed(layers.Flatten()), layers.LSTM(50),
                                 layers.Dense(1, activation="sigmoid")])
    report("CNN-LSTM: TimeDistributed(Conv2D(32) -> pool) -> LSTM(50)", f"{cnn_lstm.count_params():,} parameters")


def pandas_preparation() -> None:
    """The article's preparation on the data keras_ports.py prepares (two missing feature1 values)."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"feature1": rng.normal(size=100), "feature2": rng.normal(size=100),
                         "target": rng.integers(0, 2, 100).astype(float)})
    data.loc[[3, 50], "feature1"] = np.nan
    data = data.dropna()
    for column in ("feature1", "feature2"):
        data[column] = (data[column] - data[column].mean()) / data[column].std()
    test = data.loc[data.index >= 80]
    report("pandas preparation, as written (all rows' statistics)",
           f"rows kept {len(data)}/100, rows 80-99 kept {len(test)}/20, "
           f"their feature1 mean {test['feature1'].mean():+.3f}")


def tuner_search(x: np.ndarray, y: np.ndarray, trials: int, epochs: int, seed: int) -> None:
    """keras_tuner.RandomSearch over the article's units range on the sine windows: train on the first 70 %, validate
    on the next 10 % (the split of ``experiment=sine_regression``), one execution per trial."""
    import keras_tuner

    train, val = int(0.7 * len(x)), int(0.8 * len(x))

    def build(hp):
        return regressor(10, stacked=False, units=hp.Int("units", min_value=32, max_value=512, step=32))

    with tempfile.TemporaryDirectory() as directory:
        tuner = keras_tuner.RandomSearch(build, objective="val_loss", max_trials=trials, executions_per_trial=1,
                                         seed=seed, directory=directory, project_name="sine")
        tuner.search(x[:train], y[:train], epochs=epochs, batch_size=32, validation_data=(x[train:val], y[train:val]),
                     verbose=0)
        best = tuner.oracle.get_best_trials(1)[0]
        tried = sorted(t.hyperparameters.get("units") for t in tuner.oracle.trials.values())
    report(f"Keras Tuner RandomSearch, {trials} trials x {epochs} epochs",
           f"units tried {tried}; best units {best.hyperparameters.get('units')}, val MSE {best.score:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the models' weights, batch order and tuner")
    seed = parser.parse_args().seed
    tf.get_logger().setLevel("ERROR")   # retracing notices of the repeated model.predict calls
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)
    print(f"Keras {keras.__version__}, TensorFlow {tf.__version__}, seed {seed}, one thread")
    summaries()
    text_generation()
    sine = np.sin(np.arange(0, 100, 0.1))
    x, y = windows(sine, 10)
    fit_both("sine, LSTM(50) + Dense(1), 20 epochs", x, y, stacked=False, epochs=20)
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.random(100), rng.random(100)
    report("scikit-learn evaluation, as written (random numbers)",
           f"mean_squared_error {mean_squared_error(y_true, y_pred):.3f}, r2_score {r2_score(y_true, y_pred):.3f}")
    audio = np.sin(2 * np.pi * 440 * np.arange(0, 1.0, 1.0 / 8000))
    x440, y440 = windows(audio, 100, step=100)
    fit_both(f"440 Hz tone, LSTM(50)x2, {len(x440)} windows, 10 epochs", x440, y440, stacked=True, epochs=10)
    pandas_preparation()
    tuner_search(x, y, trials=3, epochs=3, seed=seed)


if __name__ == "__main__":
    main()
