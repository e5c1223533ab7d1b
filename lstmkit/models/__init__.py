"""Networks: plain ``nn.Module`` s built from :mod:`lstmkit.nn`, with the LSTM ``backend`` as an argument."""

from lstmkit.models.forecasting import LSTMForecaster

__all__ = ["LSTMForecaster"]
