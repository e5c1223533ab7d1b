"""The seed article's sine regression in Keras 3, on the windows and split of ``experiment=sine_regression``, for the
end-to-end comparison in docs/BENCHMARKS.md. Not part of lstmkit: run it with a Python that has Keras, e.g.

    python3 -m venv /tmp/kerasvenv && /tmp/kerasvenv/bin/pip install keras tensorflow-cpu
    /usr/bin/time -f "%e s wall, %U s user, %S s sys" /tmp/kerasvenv/bin/python scripts/bench_keras_sine.py

Data: ``sin(arange(0, 100, 0.1))``, windows of 10 → the next value (the article's code); the windows whose target
lies in the first 70 % of the rows train, the next 10 % validate, the last 20 % test (what lstmkit's
``chronological_split`` and ``make_windows`` do for ``val_fraction=0.1, test_fraction=0.2``). Model: LSTM(50) →
LSTM(50) → Dense(1), Adam(0.005), MSE, 20 epochs, batch 32, as the experiment. Prints the test MSE.
"""

import time

START = time.perf_counter()

import numpy as np  # noqa: E402
from keras import Sequential, layers, optimizers  # noqa: E402

SEQ_LENGTH, EPOCHS, BATCH = 10, 20, 32

data = np.sin(np.arange(0, 100, 0.1))
n = len(data)
test_start = n - round(0.2 * n)
val_start = test_start - round(0.1 * n)
origins = np.arange(SEQ_LENGTH, n)  # row of each window's target
X = np.stack([data[o - SEQ_LENGTH:o] for o in origins])[..., None].astype(np.float32)  # (N, 10, 1)
y = data[origins].astype(np.float32)  # (N,)
train, val, test = origins < val_start, (origins >= val_start) & (origins < test_start), origins >= test_start

model = Sequential([
    layers.Input((SEQ_LENGTH, 1)),
    layers.LSTM(50, return_sequences=True),
    layers.LSTM(50),
    layers.Dense(1),
])
model.compile(optimizer=optimizers.Adam(0.005), loss="mse")
imported = time.perf_counter()
model.fit(X[train], y[train], epochs=EPOCHS, batch_size=BATCH, validation_data=(X[val], y[val]), verbose=0)
trained = time.perf_counter()
mse = float(model.evaluate(X[test], y[test], verbose=0))
print(f"test MSE {mse:.3g}; windows train/val/test {train.sum()}/{val.sum()}/{test.sum()}; "
      f"imports and model {imported - START:.1f} s, fit {trained - imported:.1f} s, "
      f"to the test MSE {time.perf_counter() - START:.1f} s (after interpreter start)")
