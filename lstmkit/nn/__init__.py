"""Drop-in LSTM modules: ``from lstmkit.nn import LSTM, LSTMCell``; :func:`convert` swaps layers with torch's
(and to the traceable eval-mode form for export, :class:`TraceableLSTM`); :func:`keras_init_` starts them as Keras
does."""

from lstmkit.nn.convert import convert
from lstmkit.nn.init import keras_init_
from lstmkit.nn.lstm import LSTM, LSTMCell
from lstmkit.nn.traceable import TraceableLSTM

__all__ = ["LSTM", "LSTMCell", "TraceableLSTM", "convert", "keras_init_"]
