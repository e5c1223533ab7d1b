"""lstmkit: fused LSTM layers (reference, aten and Triton backends) and Lightning/Hydra applications."""

__version__ = "0.1.0"
