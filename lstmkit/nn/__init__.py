"""Drop-in LSTM modules: ``from lstmkit.nn import LSTM, LSTMCell``."""

from lstmkit.nn.lstm import LSTM, LSTMCell

__all__ = ["LSTM", "LSTMCell"]
