"""scripts/gpu_check.sh --dry-run: the GPU check's whole Python (parity against aten, timings, refusals, the Markdown
table and the JSON file) on the CPU under TRITON_INTERPRET=1 with a tiny shape; and its import rule."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dry_run_writes_table_and_json(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "TRITON_INTERPRET": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads((tmp_path / "gpu_check.json").read_text())["rows"]
    table = (tmp_path / "gpu_check.md").read_text()
    parity = {(r["dtype"], r["strategy"]): r for r in rows if r["check"] == "parity"}
    assert set(parity) == {(d, s) for d in ("fp32", "bf16") for s in ("step", "sequence", "persistent")}
    for dtype in ("fp32", "bf16"):
        for strategy in ("step", "sequence"):
            assert parity[dtype, strategy]["ok"], parity[dtype, strategy]
        assert "TRITON_INTERPRET=1" in parity[dtype, "persistent"]["refused"]
    timing = {r["strategy"]: r for r in rows if r["check"] == "timing"}
    assert set(timing) == {"cudnn", "step graphed", "step eager", "sequence", "persistent"}
    assert timing["step graphed"]["eager_minus_graphed_fwd_us_per_step"] == pytest.approx(
        timing["step eager"]["fwd_us_per_step"] - timing["step graphed"]["fwd_us_per_step"])
    assert table.count("\n| parity |") == 6 and table.count("\n| timing |") == 5


def test_layers_import_without_lightning_or_hydra():
    code = ("import sys; import lstmkit.nn, lstmkit.ops, lstmkit.kernels.launch; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'pytorch_lightning', 'hydra', "
            "'omegaconf'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"
