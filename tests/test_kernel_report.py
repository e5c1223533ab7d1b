"""AOT compilation of the kernels (scripts/kernel_report.py): every specialisation the launcher uses compiles
for sm_80 and sm_90 with no spills, shared memory within the arch's limit and tensor-core instructions.
Needs no GPU: triton compiles to PTX/cubin with the ptxas it ships."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_script

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


def test_persistent_kernels_compile_with_their_mma_atomics_and_hoisted_weights():
    """sm_90, bf16, H = 256 (the whole H x dtype grid is under -m aot_full and in docs/KERNELS.md): the forward's
    MMA is wgmma (M = the 64-row gate slice), the backward's mma.sync (its 16 x 16 output tile is below wgmma's M)."""
    rows = _report("--strategy", "persistent", "--hidden", "256", "--dtype", "bf16", "--batch", "16", "--arch", "90")
    _check(rows)
    fwd, bwd = (next(r for r in rows if r["kernel"] == name) for name in ("fwd_persistent", "bwd_persistent"))
    assert {r["kernel"] for r in rows} == {"fwd_persistent", "bwd_persistent"}
    assert fwd["wgmma"] and fwd["atomics"] and fwd["w_hoisted"], fwd
    assert bwd["mma_sync"] and not bwd["wgmma"] and bwd["atomics"] and bwd["w_hoisted"], bwd


def _ttir(load_in_loop: bool) -> str:
    load = "%w_5 = tt.load %w_4, %m : tensor<64x256x!tt.ptr<bf16>> loc(#loc1)"
    body = [f"      {load}"] if load_in_loop else []
    return "\n".join([
        "module {", "  tt.func public @k(%w_ptr: !tt.ptr<bf16>) {", "    %c = arith.constant 0 : i32",
        *([] if load_in_loop else [f"    {load}"]),
        "    %r:2 = scf.for %t = %c0 to %T step %c1 iter_args(%a = %x) -> (tensor<16x16xf32>) : i32 {",
        *body,
        "      %s = tt.atomic_rmw add, acquire, gpu, %p, %c0_i32, %true : (!tt.ptr<i32>, i32, i1) -> i32",
        "      %u = tt.atomic_rmw add, release, gpu, %p, %c1_i32, %true : (!tt.ptr<i32>, i32, i1) -> i32",
        "      scf.yield %a", "    }", "    tt.return", "  }", "}"])


def test_w_load_hoisted_tells_a_hoisted_load_from_one_in_the_time_loop(monkeypatch):
    # importing the script sets TRITON_INTERPRET=0 for its AOT compiles: monkeypatch restores it afterwards
    monkeypatch.setenv("TRITON_INTERPRET", os.environ.get("TRITON_INTERPRET", "0"))
    kernel_report = load_script("kernel_report")
    assert kernel_report.w_load_hoisted(_ttir(load_in_loop=False), 64, 256)
    assert not kernel_report.w_load_hoisted(_ttir(load_in_loop=True), 64, 256)
    assert not kernel_report.w_load_hoisted(_ttir(load_in_loop=False), 64, 512)  # no load of that shape at all
