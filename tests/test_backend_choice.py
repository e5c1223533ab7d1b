"""backend="auto": cuDNN (aten) on CUDA for everything cuDNN can run, triton only for what it cannot; CPU as before.

The device is only named (``torch.device("cuda")``): the choice depends on its type, not on a GPU being present.
"""

from __future__ import annotations

import pytest
import torch

from lstmkit.ops import functional
from lstmkit.ops.functional import CUDA_AUTO_TABLE, resolve_backend
from lstmkit.ops.recurrence import available_backends

CUDA, CPU = torch.device("cuda"), torch.device("cpu")
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
HIDDEN = (1, 64, 128, 255, 256, 512, 768, 1024, 1025, 4096)
needs_triton = pytest.mark.skipif("triton" not in available_backends(), reason="triton backend not registered")


def test_table_covers_every_vanilla_configuration_once_and_says_aten():
    for klass in ("padded", "lengths"):
        for dtype in DTYPES:
            for hidden in HIDDEN:
                rows = [r for r in CUDA_AUTO_TABLE if r[0] == klass and dtype in r[1] and r[2][0] <= hidden <= r[2][1]]
                assert len(rows) == 1, (klass, dtype, hidden, rows)
                assert rows[0][3] == "aten"  # flips only with a GPU measurement in docs/BENCHMARKS.md


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("has_lengths", [False, True])
@pytest.mark.parametrize("has_proj", [False, True])
def test_auto_on_cuda_picks_aten_for_vanilla(dtype, has_lengths, has_proj):
    for hidden in HIDDEN:
        got = resolve_backend("auto", CUDA, has_proj=has_proj, dtype=dtype, hidden_size=hidden, has_lengths=has_lengths)
        assert got == "aten", (dtype, hidden)


@needs_triton
@pytest.mark.parametrize("variant", ["layer_norm=True", "zoneout_cell=0.1", "recurrent_dropout=0.25", "resets"])
def test_auto_on_cuda_picks_triton_for_what_cudnn_cannot_run(variant):
    assert resolve_backend("auto", CUDA, variant=variant, dtype=torch.bfloat16, hidden_size=768) == "triton"


def test_auto_on_cuda_variant_with_proj_falls_back_to_reference():
    # neither cuDNN (variant) nor the kernels (proj_size) can run it
    assert resolve_backend("auto", CUDA, has_proj=True, variant="layer_norm=True", hidden_size=64) == "reference"


@needs_triton
def test_a_flipped_table_entry_is_followed_only_in_its_range(monkeypatch):
    table = [row if not (row[0] == "padded" and row[2] == (256, 1024) and torch.bfloat16 in row[1])
             else (*row[:3], "triton") for row in CUDA_AUTO_TABLE]
    monkeypatch.setattr(functional, "CUDA_AUTO_TABLE", tuple(table))
    assert resolve_backend("auto", CUDA, dtype=torch.bfloat16, hidden_size=768) == "triton"
    assert resolve_backend("auto", CUDA, dtype=torch.bfloat16, hidden_size=128) == "aten"
    assert resolve_backend("auto", CUDA, dtype=torch.float32, hidden_size=768) == "aten"
    assert resolve_backend("auto", CUDA, dtype=torch.bfloat16, hidden_size=768, has_lengths=True) == "aten"
    # the kernels cannot run proj_size: cuDNN serves it whatever the table says
    assert resolve_backend("auto", CUDA, has_proj=True, dtype=torch.bfloat16, hidden_size=768) == "aten"


@needs_triton
def test_triton_still_forced_on_cuda_for_vanilla():
    assert resolve_backend("triton", CUDA, dtype=torch.float32, hidden_size=64) == "triton"


def test_auto_on_cpu_unchanged():
    assert resolve_backend("auto", CPU, hidden_size=64) == "aten"
    assert resolve_backend("auto", CPU, variant="layer_norm=True", hidden_size=64) == "reference"
