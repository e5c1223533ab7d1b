"""Triton kernels for the LSTM recurrence (installed as ``lstmkit.kernels``): ``@triton.jit`` code and launchers only."""
