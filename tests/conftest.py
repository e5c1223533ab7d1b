"""Shared test set-up. Triton's interpreter must be chosen before triton is first imported: with no CUDA
device the same kernel tests run on the CPU under TRITON_INTERPRET=1."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
