"""scripts/keras_ports.py builds the article's models as the Keras code does: the tokenizer's ids, the attention
model against a float64 NumPy computation of Keras' dot-product ``Attention``, the parameter counts against Keras'
formulas counted by hand (plus PyTorch's second bias per gate), and the sine port's held-out scores against
scikit-learn."""

from __future__ import annotations

import numpy as np
import torch
from helpers import load_script
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

ports = load_script("keras_ports")


def test_word_windows_follow_the_keras_tokenizer():
    x, y, outputs = ports.word_windows(ports.TEXT)
    # hello world this is a sample text for lstm networks in nlp: every word once, ids in order of appearance
    np.testing.assert_array_equal(x[0], [1, 2, 3])
    np.testing.assert_array_equal(y, np.arange(4, 13))
    assert x.shape == (9, 3) and outputs == 13
    x, y, outputs = ports.word_windows("Cat, dog. CAT! bird cat dog", length=2)
    # counts: cat 3, dog 2, bird 1 -> ids 1, 2, 3 (the Tokenizer ranks by frequency)
    np.testing.assert_array_equal(x, [[1, 2], [2, 1], [1, 3], [3, 1]])
    np.testing.assert_array_equal(y, [1, 3, 1, 2])
    assert outputs == 4


def test_attention_is_keras_dot_product_attention():
    torch.manual_seed(0)
    model = ports.ArticleAttention(units=4).double()
    x = torch.randn(3, 6, 1, dtype=torch.float64)
    reference = torch.nn.LSTM(1, 4, bidirectional=True, batch_first=True).double()
    reference.load_state_dict(model.lstm.state_dict())
    with torch.no_grad():
        out = reference(x)[0].numpy()                                      # (3, 6, 8)
        got = model(x).numpy()
    scores = out @ out.transpose(0, 2, 1)                                  # (3, 6, 6), unscaled
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    context = (weights / weights.sum(-1, keepdims=True)) @ out              # (3, 6, 8)
    squash = np.tanh(context @ model.squash.weight.detach().numpy().T + model.squash.bias.detach().numpy())
    expected = squash @ model.out.weight.detach().numpy().T + model.out.bias.detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert got.shape == (3, 6, 1)


def test_parameter_counts_are_keras_plus_a_second_bias_per_gate():
    # Keras LSTM(units) on d inputs: 4 * (units * d + units * units + units); PyTorch adds 4 * units
    assert ports.keras_lstm_params(1, 50) == 4 * (50 + 2500 + 50) == 10_400
    attention = ports.ArticleAttention()
    assert ports.count(attention) == 2 * (10_400 + 200) + 101 + 2
    clips = ports.ArticleCNNLSTM(side=8)                                   # 6x6 after the conv, 3x3 after pooling
    conv, features = 32 * 27 + 32, 32 * 3 * 3
    assert ports.count(clips) == conv + 4 * 50 * (features + 50) + 8 * 50 + 51
    probabilities = clips(torch.randn(5, 2, 3, 8, 8))
    assert probabilities.shape == (5, 1) and ((probabilities > 0) & (probabilities < 1)).all()


def test_sine_port_scores_match_scikit_learn():
    torch.manual_seed(0)
    x, y = ports.windows(np.sin(np.arange(0, 30, 0.1)), 10)
    metrics, _, (actual, forecast) = ports.fit_regression(x, y, layers=1, epochs=2)
    assert len(actual) == len(x) - int(0.8 * len(x))
    np.testing.assert_allclose(actual, y[int(0.8 * len(x)):])
    np.testing.assert_allclose(metrics["mse"], mean_squared_error(actual, forecast), rtol=1e-5)
    np.testing.assert_allclose(metrics["mae"], mean_absolute_error(actual, forecast), rtol=1e-5)
    np.testing.assert_allclose(metrics["r2"], r2_score(actual, forecast), rtol=1e-5)
