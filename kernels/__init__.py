"""Triton kernels for the LSTM recurrence (installed as ``lstmkit.kernels``).

``cell`` (elementwise math), ``step`` and ``sequence`` hold only ``@triton.jit`` code; ``launch`` holds the
launchers (strategy and tile choice). No torch.nn here: autograd lives in ``lstmkit.ops.triton_backend``.
"""
