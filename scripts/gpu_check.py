"""Parity and timings of the Triton backend against cuDNN on one GPU: the Python half of scripts/gpu_check.sh.

For each shape (B, T, H; input size = H) and dtype (fp32 with TF32 off, bf16), with the same weights:

- parity: ``lstmkit.nn.LSTM(backend="triton")`` under every strategy (step, sequence, persistent) against
  ``backend="aten"`` (cuDNN): output, h_n, c_n and the gradients of the input and every weight after one
  forward+backward, as the largest absolute error over the largest cuDNN magnitude; a strategy that refuses the
  shape (the sequence kernel's on-chip limit, the persistent kernel's residency) is listed with its reason;
- timings (bf16 only): median ms of forward (no_grad) and forward+backward (weight gradients included) for
  cuDNN, triton step with its CUDA graphs, triton step eager (``LSTMKIT_CUDA_GRAPHS=0``), sequence and persistent,
  interleaved round-robin; µs per time step; and the step strategy's eager minus graphed time per step.

Writes ``gpu_check.md`` (one Markdown table) and ``gpu_check.json`` in ``--out``. ``--dry-run`` runs the same code
on the CPU under TRITON_INTERPRET=1 with tiny shapes (what tests/test_gpu_check.py runs). Imports only torch,
triton and lstmkit.nn/ops/kernels (no Lightning, no Hydra: it fails if they get imported).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if "--dry-run" in sys.argv:  # the interpreter must be chosen before triton is imported
    os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402
from lstmkit.kernels import launch  # noqa: E402

from lstmkit.nn import LSTM  # noqa: E402
from lstmkit.ops import triton_backend  # noqa: E402

FORBIDDEN = ("lightning", "pytorch_lightning", "hydra", "omegaconf")
SHAPES = [(16, 1024, 64), (16, 1024, 128), (16, 1024, 768), (64, 100, 512)]  # FlashRNN's (B, T, H)
DRY_SHAPES = [(2, 3, 8)]
STRATEGIES = ("step", "sequence", "persistent")
TOLERANCE = {"fp32": 1e-3, "bf16": 5e-2}  # relative to cuDNN's largest value, after T steps of both
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
TIMED = ("cudnn", "step graphed", "step eager", "sequence", "persistent")


def check_imports() -> None:
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(FORBIDDEN))
    if loaded:
        raise SystemExit(f"gpu_check: lstmkit.nn/ops/kernels imported {loaded}; they must run without them")


def pair(batch, steps, hidden, dtype, device):
    """cuDNN and Triton modules with the same weights, an input and an output cotangent."""
    torch.manual_seed(0)
    cudnn = LSTM(hidden, hidden, backend="aten", device=device, dtype=dtype)
    triton = LSTM(hidden, hidden, backend="triton", device=device, dtype=dtype)
    triton.load_state_dict(cudnn.state_dict())
    x = torch.randn(steps, batch, hidden, device=device, dtype=dtype)
    grad = torch.randn(steps, batch, hidden, device=device, dtype=dtype)
    return cudnn, triton, x, grad


def forward_backward(module, x, grad) -> dict:
    module.zero_grad(set_to_none=True)
    xg = x.clone().requires_grad_()
    out, (h_n, c_n) = module(xg)
    out.backward(grad)
    return {"output": out, "h_n": h_n, "c_n": c_n, "d_input": xg.grad,
            **{f"d_{n}": p.grad for n, p in module.named_parameters()}}


def relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    got, ref = got.double(), ref.double()
    if not torch.isfinite(got).all():
        return float("nan")
    return ((got - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()


def parity(shape, dtype_name, device) -> list[dict]:
    cudnn, triton, x, grad = pair(*shape, DTYPES[dtype_name], device)
    ref = forward_backward(cudnn, x, grad)
    rows = []
    for strategy in STRATEGIES:
        triton_backend.set_strategy(strategy)
        row = {"check": "parity", "B": shape[0], "T": shape[1], "H": shape[2], "dtype": dtype_name,
               "strategy": strategy}
        try:
            got = forward_backward(triton, x, grad)
        except ValueError as why:  # a strategy that cannot run this shape says so
            rows.append({**row, "refused": str(why)})
            continue
        errors = {name: relative_error(got[name], ref[name]) for name in ref}
        worst = max(errors, key=lambda n: errors[n] if errors[n] == errors[n] else float("inf"))
        rows.append({**row, "max_error": errors[worst], "worst": worst, "errors": errors,
                     "ok": errors[worst] <= TOLERANCE[dtype_name]})
    return rows


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timing(shape, device, repeats, warmup) -> list[dict]:
    """Median ms of forward and forward+backward per contender, interleaved round-robin."""
    cudnn, triton, x, grad = pair(*shape, torch.bfloat16, device)
    contenders = {"cudnn": (cudnn, "auto", "1"), "step graphed": (triton, "step", "1"),
                  "step eager": (triton, "step", "0"), "sequence": (triton, "sequence", "1"),
                  "persistent": (triton, "persistent", "1")}

    def run(name, backward):
        module, strategy, graphs = contenders[name]
        triton_backend.set_strategy(strategy)
        os.environ["LSTMKIT_CUDA_GRAPHS"] = graphs
        start = time.perf_counter()
        if backward:
            forward_backward(module, x, grad)
        else:
            with torch.no_grad():
                module(x)
        sync(device)
        return (time.perf_counter() - start) * 1e3

    times, refused = {n: ([], []) for n in contenders}, {}
    for r in range(warmup + repeats):
        for name in contenders:
            if name in refused:
                continue
            try:
                for store, backward in zip(times[name], (False, True)):
                    elapsed = run(name, backward)
                    if r >= warmup:
                        store.append(elapsed)
            except ValueError as why:
                refused[name] = str(why)
    os.environ.pop("LSTMKIT_CUDA_GRAPHS", None)
    rows = []
    for name, (fwd, fwd_bwd) in times.items():
        row = {"check": "timing", "B": shape[0], "T": shape[1], "H": shape[2], "dtype": "bf16", "strategy": name}
        if name in refused:
            rows.append({**row, "refused": refused[name]})
            continue
        f, fb = statistics.median(fwd), statistics.median(fwd_bwd)
        rows.append({**row, "fwd_ms": f, "fwd_bwd_ms": fb, "fwd_us_per_step": f * 1e3 / shape[1],
                     "fwd_bwd_us_per_step": fb * 1e3 / shape[1]})
    by_name = {r["strategy"]: r for r in rows}
    eager, graphed = by_name["step eager"], by_name["step graphed"]
    if "fwd_ms" in eager and "fwd_ms" in graphed:
        for key in ("fwd_us_per_step", "fwd_bwd_us_per_step"):
            graphed[f"eager_minus_graphed_{key}"] = eager[key] - graphed[key]
    return rows


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| check | B | T | H | dtype | strategy | result | fwd ms | fwd+bwd ms | fwd µs/step | "
             "f+b µs/step | eager − graphed µs/step (fwd / f+b) |", "|" + "---|" * 12]
    for r in rows:
        if "refused" in r:
            result = f"refused: {r['refused']}"
        elif r["check"] == "parity":
            result = f"{'ok' if r['ok'] else 'FAIL'}: max error {r['max_error']:.2e} ({r['worst']})"
        else:
            result = ""
        cells = [f"{r[k]:.3f}" if k in r else "" for k in ("fwd_ms", "fwd_bwd_ms")]
        cells += [f"{r[k]:.2f}" if k in r else "" for k in ("fwd_us_per_step", "fwd_bwd_us_per_step")]
        diff = [r.get(f"eager_minus_graphed_{k}") for k in ("fwd_us_per_step", "fwd_bwd_us_per_step")]
        cells.append(" / ".join(f"{d:.2f}" for d in diff) if diff[0] is not None else "")
        lines.append("| " + " | ".join(str(c) for c in [r["check"], r["B"], r["T"], r["H"], r["dtype"], r["strategy"],
                                                          result, *cells]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for gpu_check.md and gpu_check.json")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU under TRITON_INTERPRET=1")
    args = parser.parse_args(argv)
    check_imports()
    if args.dry_run:
        device, shapes, repeats, warmup = torch.device("cpu"), DRY_SHAPES, 1, 0
    elif not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU, or pass --dry-run")
    else:
        device, shapes, repeats, warmup = torch.device("cuda"), SHAPES, args.repeats, args.warmup
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # fp32 parity is fp32's
    rows = [row for shape in shapes for dtype in DTYPES for row in parity(shape, dtype, device)]
    rows += [row for shape in shapes for row in timing(shape, device, repeats, warmup)]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (dry run, TRITON_INTERPRET=1)"
    header = (f"device: {name}; torch {torch.__version__}; triton {launch.triton.__version__}; "
              f"repeats {repeats} (interleaved), warmup {warmup}; parity tolerance {TOLERANCE}")
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, header)
    (args.out / "gpu_check.md").write_text(table, encoding="utf-8")
    (args.out / "gpu_check.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1), encoding="utf-8")
    print(table)
    return 0 if all(r.get("ok", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
