"""AOT compilation of the kernels (scripts/kernel_report.py): every specialisation the launcher uses compiles
for sm_80 and sm_90 with no spills, shared memory within the arch's limit and tensor-core instructions.
Needs no GPU: triton compiles to PTX/cubin with the ptxas it ships."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kernel_report.py"
SHARED_LIMIT = {"sm_80": 163 * 1024, "sm_90": 227 * 1024}


def _report(*args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--json", "--jobs", "2", *args],
                          capture_output=True, text=True, timeout=3000)
    assert proc.stdout, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _check(rows: list[dict]) -> None:
    assert rows
    for row in rows:
        where = f"{row['kernel']} {row['arch']} {row['dtype']} H={row['hidden']} B={row['batch']}"
        assert "error" not in row, f"{where}: {row.get('error')}"
        assert row["spill_bytes"] == 0, where
        assert row["shared_bytes"] <= SHARED_LIMIT[row["arch"]], where
        if row["dtype"] in ("bf16", "fp16") and "_row" not in row["kernel"]:  # row kernels have no matmul
            assert row["tensor_cores"], where
        assert row["ok"], where


def test_bf16_subset_compiles_clean():
    rows = _report("--hidden", "128", "--dtype", "bf16", "--batch", "16")
    _check(rows)
    kernels = {(r["kernel"], r["arch"]) for r in rows}
    # H=128 bf16 is the largest sequence size: forward on both archs, backward only where it fits (sm_90)
    assert {("fwd_step", "sm_80"), ("bwd_step", "sm_90"), ("fwd_sequence", "sm_80"), ("fwd_sequence", "sm_90"),
            ("bwd_sequence", "sm_90")} <= kernels
    assert ("bwd_sequence", "sm_80") not in kernels


def test_all_variants_subset_compiles_clean():
    """Every flag of DESIGN §4 at once (LayerNorm: matmul + row launches per step; sequence kernels), bf16, sm_90."""
    rows = _report("--variant", "all", "--hidden", "64", "--dtype", "bf16", "--batch", "16", "--arch", "90")
    _check(rows)
    assert {"fwd_step[matmul]<all>", "fwd_row<all>", "bwd_step[matmul]<all>", "bwd_row<all>",
            "fwd_sequence<all>", "bwd_sequence<all>"} == {r["kernel"] for r in rows}


@pytest.mark.aot_full
def test_every_specialisation_compiles_clean():
    """The full table of docs/KERNELS.md: H in {64..1024} x {fp32, fp32-ieee, bf16, fp16} x {sm_80, sm_90}."""
    _check(_report())
