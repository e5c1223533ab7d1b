"""Keras's default initialisers for LSTM and linear layers, for ports of Keras models.

PyTorch (and so ``lstmkit.nn.LSTM``, a drop-in) draws every LSTM weight and both biases from U(-1/√H, 1/√H), and a
``Linear`` from U(-1/√fan_in, 1/√fan_in). Keras 3 starts an ``LSTM`` with Glorot-uniform input kernels, orthogonal
recurrent kernels and one zero bias vector with 1 on the forget gate (``unit_forget_bias``), a ``Dense`` (and a
convolution) with a Glorot-uniform kernel and zero bias, an ``Embedding`` from U(-0.05, 0.05). A Keras model ported
with PyTorch's start can train to a different result: docs/KERAS.md measures what the start alone changes on the
seed article's examples.
"""

from __future__ import annotations

import torch
from torch import nn

from lstmkit.nn.lstm import LSTM, LSTMCell

INITS = ("torch", "keras")


@torch.no_grad()
def keras_init_(module: nn.Module) -> nn.Module:
    """Re-initialise, in place, every ``lstmkit.nn.LSTM``/``LSTMCell``, ``torch.nn.LSTM``/``LSTMCell``,
    ``nn.Linear``, ``nn.Conv1d/2d/3d`` and ``nn.Embedding`` inside ``module`` (itself included) as Keras does; other
    layers keep their weights. Linear and convolution: Glorot-uniform weight, zero bias; embedding: U(-0.05, 0.05)
    (padding row included, as Keras has none). Per LSTM layer and direction: ``weight_ih`` (4H, I) Glorot-uniform
    over fan-in I and fan-out 4H (Keras's (I, 4H) kernel, transposed), ``weight_hh`` (4H, H) with orthonormal
    columns (Keras's (H, 4H) orthogonal kernel, transposed), ``weight_hr`` Glorot-uniform, ``bias_ih`` zero except
    1 on the forget gate (gate order i, f, g, o), ``bias_hh`` zero (Keras has one bias; their sum is Keras's);
    LayerNorm gains and biases are left as they are. Returns ``module``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, nn.Embedding):
            nn.init.uniform_(layer.weight, -0.05, 0.05)
        elif isinstance(layer, (LSTM, LSTMCell, nn.LSTM, nn.LSTMCell)):
            for name, parameter in layer.named_parameters(recurse=False):
                if name.startswith("weight_hh"):
                    nn.init.orthogonal_(parameter)
                elif name.startswith(("weight_ih", "weight_hr")):
                    nn.init.xavier_uniform_(parameter)
                elif name.startswith(("bias_ih", "bias_hh")):
                    parameter.zero_()
                    if name.startswith("bias_ih"):
                        hidden = parameter.shape[0] // 4
                        parameter[hidden:2 * hidden] = 1.0
    return module
