"""Compile every LSTM kernel specialisation the launcher uses, ahead of time and with no GPU; report resources.

For each hidden size, dtype, batch size and arch, asks ``lstmkit.kernels.launch`` which kernels and tile
sizes it would launch (``kernel_config``, ``dot_options``, ``SEQUENCE_MAX_HIDDEN``), compiles them with
``triton.compile(ASTSource(...), target=GPUTarget("cuda", cap, 32))`` and inspects the result with the
``ptxas`` and ``cuobjdump`` that triton ships:

- ``regs``: registers per thread and ``spill_bytes`` (spill stores + loads), from ``ptxas -v`` run with
  triton's flags on the PTX; ``shared_bytes``: shared memory per block (triton's metadata);
- ``tensor_cores``: ``mma``/``wgmma`` in the PTX and ``HMMA``/``HGMMA`` in the SASS;
- ``ok``: compiled, no spills, shared memory within the arch's per-block limit, and tensor cores (every
  specialisation uses them: fp32 runs as TF32, or as three TF32 products when TF32 is off).

The persistent kernels (``strategy="persistent"``, bf16/fp16, H in ``PERSISTENT_HIDDEN``; forward and backward) must
also show, or their row is not ok: the MMA instruction they are built for — forward ``wgmma`` (``wgmma.mma_async`` in
the PTX, sm_90 only: the MMA's M is the 64-row gate slice), backward ``mma_sync`` (``mma.sync.aligned.m16n8k16`` and
no ``wgmma``: its output tile is 16 batch rows × 16 units, below wgmma's M = 64); ``atomics`` — an acquire load or
atomic (``ld/atom...acquire``) and a release atomic (``red/atom...release``) in the PTX; ``w_hoisted`` — in triton's
TTIR, where SSA values carry the Python names and nesting is structured (``scf.for``/``scf.while``), every load of a
W_hh-slice tile (forward 4·BLOCK_H × BLOCK_K, backward BLOCK_K × BLOCK_H) sits at the function body's own level,
before the time loop, and that loop (the ``scf.for`` holding the acquire and release atomics) contains no such load.

Usage::

    python scripts/kernel_report.py                    # table (markdown)
    python scripts/kernel_report.py --json             # JSON list of objects
    python scripts/kernel_report.py --hidden 128 768 --dtype bf16 --arch 90 --jobs 2
    python scripts/kernel_report.py --full             # also the lengths and closing-launch variants
    python scripts/kernel_report.py --strategy persistent --hidden 256 512 768 1024 --dtype bf16 fp16 --arch 90

``fp32`` compiles with TF32 (torch's default ``torch.backends.cudnn.allow_tf32=True``); ``fp32-ieee`` is the
same dtype with TF32 off (``input_precision="tf32x3"``). Each compile runs in a forked child, so a compiler
crash is reported as a failed row. Exit status 1 if any row is not ok.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor

os.environ["TRITON_INTERPRET"] = "0"  # AOT compilation needs real @triton.jit functions, not interpreted ones

import torch  # noqa: E402
import triton  # noqa: E402
from lstmkit.kernels import launch, persistent, persistent_bwd, persistent_launch, rows, sequence, step  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

HIDDEN = (64, 128, 256, 512, 768, 1024)
DTYPES = {"fp32": torch.float32, "fp32-ieee": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
ARCHS = (80, 90)
STRATEGIES = ("step", "sequence", "persistent")  # launcher strategies whose kernels the report compiles
BATCHES = (16, 64)  # the two shapes of docs/PERFORMANCE.md; the step kernels' tiles depend on batch
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}  # max dynamic shared memory per block (A100, H100)
TRITON_TYPE = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
FP32_POINTERS = {"c_prev_ptr", "c_next_ptr", "dh_ptr", "dc_ptr", "r_ptr", "r_hat_ptr", "r_rstd_ptr",
                 "c_state_ptr", "dh_state_ptr", "dc_state_ptr"}  # float32
INT32_POINTERS = {"len_ptr", "count_ptr"}
PERSISTENT_HIDDEN = (256, 512, 768, 1024)  # the sizes the persistent kernel is for (cuDNN's standard algorithm)
FLAGS = ("LN_H", "LN_C", "ZONEOUT_C", "ZONEOUT_H", "DROPOUT", "RESETS")
# the LSTM variants (DESIGN §4) by the flags they set; "masks" covers the single-launch step path (no LayerNorm)
VARIANTS = {
    "vanilla": {},
    "layer_norm": dict(LN_H=True, LN_C=True),
    "masks": dict(ZONEOUT_C=True, ZONEOUT_H=True, DROPOUT=True, RESETS=True),
    "all": dict(LN_H=True, LN_C=True, ZONEOUT_C=True, ZONEOUT_H=True, DROPOUT=True, RESETS=True),
}
BIN = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")


def _kernels(strategy: str, variant: str, hidden: int, dtype, arch: int, full: bool) -> list[tuple[str, str, dict]]:
    """(label, kernel function, constexpr flags) the launcher launches for one strategy and variant."""
    flags = VARIANTS[variant]
    layer_norm = flags.get("LN_H", False) or flags.get("LN_C", False)
    suffix = "" if variant == "vanilla" else f"<{variant}>"
    if strategy == "persistent":  # vanilla, 16-bit: one launch per sequence and pass, W_hh slices on chip
        fits = variant == "vanilla" and dtype != torch.float32 and hidden in PERSISTENT_HIDDEN
        return [(f"{d}_persistent", f"lstm_{d}_persistent_kernel", {"PERSISTENT": True})
                for d in ("fwd", "bwd")] if fits else []
    if strategy == "sequence":
        return [(f"{d}_sequence{suffix}", f"lstm_{d}_sequence_kernel", dict(flags))
                for d, backward in (("fwd", False), ("bwd", True))
                if hidden <= launch.sequence_max_hidden(dtype, arch // 10, backward, layer_norm)]
    matmul = {k: v for k, v in flags.items() if k in ("ZONEOUT_H", "DROPOUT", "RESETS")}
    if layer_norm:  # two launches per step: the matmul in the step kernel, the rest in a row kernel
        row_flags = {k: v for k, v in flags.items() if k != "DROPOUT"}
        return [(f"fwd_step[matmul]{suffix}", "lstm_fwd_step_kernel",
                 dict(ELEMENTWISE=False, DROPOUT=flags.get("DROPOUT", False), RESETS=flags.get("RESETS", False))),
                (f"fwd_row{suffix}", "lstm_fwd_row_kernel", row_flags),
                (f"bwd_step[matmul]{suffix}", "lstm_bwd_step_kernel", dict(HAS_NEXT=True, ELEMENTWISE=False, **matmul)),
                (f"bwd_row{suffix}", "lstm_bwd_row_kernel", row_flags)]
    out = [(f"fwd_step{suffix}", "lstm_fwd_step_kernel", dict(ELEMENTWISE=True, **flags))]
    bwd_flags = [(True, True), (False, True), (True, False)] if full else [(True, True)]
    for has_next, elementwise in bwd_flags:
        name = "bwd_step" + ("" if (has_next, elementwise) == (True, True) else
                             "[last]" if not has_next else "[close]")
        out.append((name + suffix, "lstm_bwd_step_kernel",
                    dict(HAS_NEXT=has_next, ELEMENTWISE=elementwise, **(flags if elementwise else matmul))))
    return out


def specialisations(hidden: int, dtype_name: str, batch: int, arch: int, full: bool,
                    variant: str = "vanilla", strategies=STRATEGIES) -> list[dict]:
    """The (kernel, constexprs, num_warps, num_stages) the launcher would use for one shape, arch and variant, as plain
    dicts: the step kernels (any H; ``strategy="step"`` forces them) and the sequence kernels where they fit."""
    dtype = DTYPES[dtype_name]
    layer_norm = VARIANTS[variant].get("LN_H", False) or VARIANTS[variant].get("LN_C", False)
    torch.backends.cudnn.allow_tf32 = dtype_name != "fp32-ieee"
    dots = launch.dot_options(dtype)
    lengths = (False, True) if full else (False,)
    out = []
    for strategy in strategies:
        for name, fn_name, flags in _kernels(strategy, variant, hidden, dtype, arch, full):
            cfg = (launch.row_config(hidden) if "_row" in fn_name else persistent_launch.persistent_config(hidden)
                   if strategy == "persistent" else launch.kernel_config(strategy, batch, hidden, dtype, layer_norm))
            blocks = dict(BLOCK_B=cfg.block_b, BLOCK_H=cfg.block_h)
            if strategy != "sequence" and "_row" not in fn_name:
                blocks["BLOCK_K"] = cfg.block_k
            options = {k: v for k, v in dots.items() if "_row" not in fn_name or k == "INTERPRET_BF16"}
            fn = _function(fn_name)
            flags = {**{k: False for k in FLAGS if k in fn.arg_names}, **flags}  # every constexpr named
            if "PREFETCH" in fn.arg_names:
                flags["PREFETCH"] = launch.sequence_prefetch(dtype)
            if "GATES_AT_ONCE" in fn.arg_names:
                flags["GATES_AT_ONCE"] = persistent_launch.gates_at_once(hidden)
            for has_lengths in lengths:
                consts = dict(H=hidden, HAS_LENGTHS=has_lengths, **blocks, **flags, **options)
                label = name + ("+lengths" if has_lengths else "")
                tiles = "x".join(str(blocks[k]) for k in ("BLOCK_B", "BLOCK_H", "BLOCK_K") if k in blocks)
                out.append(dict(kernel=label, fn=fn_name, arch=arch, dtype=dtype_name, hidden=hidden, batch=batch,
                                tiles=tiles, num_warps=cfg.num_warps, num_stages=cfg.num_stages, consts=consts))
    return out


def _function(name: str):
    for module in (step, sequence, rows, persistent, persistent_bwd):
        if hasattr(module, name):
            return getattr(module, name)
    raise KeyError(name)


def _signature(fn, dtype_name: str, consts: dict) -> tuple[dict, dict]:
    data = TRITON_TYPE[DTYPES[dtype_name]]
    sig, attrs = {}, {}
    for i, arg in enumerate(fn.arg_names):
        if arg in consts:
            sig[arg] = "constexpr"
        elif arg.endswith("_ptr"):
            sig[arg] = ("*i32" if arg in INT32_POINTERS else "*u8" if arg == "resets_ptr" else
                        "*fp32" if arg in FP32_POINTERS else f"*{data}")
            attrs[(i,)] = [["tt.divisibility", 16]]  # torch allocations are 16-byte aligned, as at run time
        else:
            sig[arg] = "i32"
    return sig, attrs


def compile_one(spec: dict) -> dict:
    fn = _function(spec["fn"])
    arch = spec["arch"]
    row = {k: spec[k] for k in ("kernel", "dtype", "hidden", "batch", "tiles", "num_warps", "num_stages")}
    row.update(arch=f"sm_{arch}", regs=None, spill_bytes=None, shared_bytes=None, tensor_cores=False, ok=False)
    sig, attrs = _signature(fn, spec["dtype"], spec["consts"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = triton.compile(ASTSource(fn, sig, spec["consts"], attrs), target=GPUTarget("cuda", arch, 32),
                                  options={"num_warps": spec["num_warps"], "num_stages": spec["num_stages"]})
    with tempfile.TemporaryDirectory() as tmp:
        ptx_path, cubin_path = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
        with open(ptx_path, "w") as f:
            f.write(compiled.asm["ptx"])
        with open(cubin_path, "wb") as f:
            f.write(compiled.asm["cubin"])
        # ptxas -v with triton's own flags reports exactly what the cubin was built with
        ptxas = subprocess.run(
            [get_ptxas(arch).path, "-lineinfo", "-v", "--regAllocOptLevel=2",
             f"--gpu-name={sm_arch_from_capability(arch)}", ptx_path, "-o", os.path.join(tmp, "v.o")],
            capture_output=True, text=True,
        ).stderr
        sass = subprocess.run([f"{BIN}/cuobjdump", "-sass", cubin_path], capture_output=True, text=True).stdout
    row["regs"] = int(re.search(r"Used (\d+) registers", ptxas).group(1))
    row["spill_bytes"] = sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", ptxas))
    row["shared_bytes"] = int(compiled.metadata.shared)
    row["tensor_cores"] = bool(re.search(r"\b(wgmma|mma)\.", compiled.asm["ptx"])) and bool(
        re.search(r"\bH[G]?MMA\b", sass))
    # the row kernels have no matmul: tensor cores are required of every other kernel
    row["ok"] = (row["spill_bytes"] == 0 and row["shared_bytes"] <= SHARED_LIMIT[arch]
                 and (row["tensor_cores"] or "_row" in spec["fn"]))
    if "persistent" in spec["fn"]:
        ptx, consts = compiled.asm["ptx"], spec["consts"]
        row["wgmma"] = bool(re.search(r"\bwgmma\.mma_async", ptx))
        row["mma_sync"] = bool(re.search(r"\bmma\.sync\.aligned\.m16n8k16\b", ptx))
        row["atomics"] = bool(re.search(r"\b(ld|atom)\.[\w.:]*\.acquire\b", ptx)) and bool(
            re.search(r"\b(red|atom)\.[\w.:]*\.release\b", ptx))
        forward = spec["fn"].startswith("lstm_fwd")
        # the W_hh slice: (4·BLOCK_H, K) forward (MMA M = the gate slice); four (K, BLOCK_H) gate tiles backward
        w_tile = (4 * consts["BLOCK_H"], consts["BLOCK_K"]) if forward else (consts["BLOCK_K"], consts["BLOCK_H"])
        row["w_hoisted"] = w_load_hoisted(compiled.asm["ttir"], *w_tile)
        # forward: wgmma on sm_90; backward: its 16 x 16 output tile is below wgmma's M = 64, mma.sync on both archs
        expected_mma = (row["wgmma"] or arch < 90) if forward else (row["mma_sync"] and not row["wgmma"])
        row["ok"] = row["ok"] and row["atomics"] and row["w_hoisted"] and expected_mma
    return row


def w_load_hoisted(ttir: str, m: int, k: int) -> bool:
    """In the TTIR of the persistent kernel: every ``tt.load`` of an (m, k) tile (the W_hh slice) is at the function
    body's own nesting level and before the time loop, the ``scf.for`` that holds the acquire and release atomics;
    there is at least one such load."""
    lines = ttir.splitlines()
    body = next(i for i, line in enumerate(lines) if "tt.func" in line) + 1
    base = len(lines[body]) - len(lines[body].lstrip())
    indent = [len(line) - len(line.lstrip()) for line in lines]
    loops = [i for i, line in enumerate(lines) if "scf.for" in line and indent[i] == base]
    loads = [i for i, line in enumerate(lines) if "tt.load" in line and f"tensor<{m}x{k}x" in line]

    def region(start: int) -> range:  # the ops nested in the loop opened on line start
        end = next(j for j in range(start + 1, len(lines)) if indent[j] <= base and lines[j].strip())
        return range(start + 1, end)

    time_loops = [i for i in loops if any("acquire" in lines[j] and "tt.atomic" in lines[j] for j in region(i))
                  and any("release" in lines[j] and "tt.atomic" in lines[j] for j in region(i))]
    return bool(loads and time_loops) and all(indent[i] == base and i < time_loops[0] for i in loads)


def _compile_in_child(spec: dict) -> dict:
    """Compile in a forked child: an LLVM assertion aborts the whole process, and must not end the report."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            payload = json.dumps(compile_one(spec))
        except Exception as err:
            payload = json.dumps({"error": f"{type(err).__name__}: {str(err).strip()[:300]}"})
        with os.fdopen(write_fd, "w") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    row = json.loads(payload) if payload else {"error": f"compiler process died (wait status {status})"}
    if "error" in row:
        error = row["error"]
        row = {k: spec[k] for k in ("kernel", "dtype", "hidden", "batch", "tiles", "num_warps", "num_stages")}
        row.update(arch=f"sm_{spec['arch']}", regs=None, spill_bytes=None, shared_bytes=None, tensor_cores=False,
                   ok=False, error=error)
    return row


def report(hidden, dtypes, archs, batches, full=False, jobs=1, variants=("vanilla",),
           strategies=STRATEGIES) -> list[dict]:
    specs = [s for v in variants for h in hidden for d in dtypes for a in archs for b in batches
             for s in specialisations(h, d, b, a, full, v, strategies)]
    seen, unique = set(), []
    for s in specs:  # different batches can share tiles: compile each specialisation once
        key = (s["fn"], s["arch"], s["dtype"], s["num_warps"], s["num_stages"], tuple(sorted(s["consts"].items())))
        if key not in seen:
            seen.add(key)
            unique.append(s)
    with ThreadPoolExecutor(jobs) as pool:  # threads that each wait on a forked compiler
        return list(pool.map(_compile_in_child, unique))


def markdown(table: list[dict]) -> str:
    cols = ["kernel", "arch", "dtype", "hidden", "batch", "tiles", "num_warps", "regs", "spill_bytes",
            "shared_bytes", "tensor_cores"]
    cols += [c for c in ("wgmma", "mma_sync", "atomics", "w_hoisted") if any(c in r for r in table)] + ["ok"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in table]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=list(HIDDEN))
    parser.add_argument("--dtype", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--arch", type=int, nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument("--batch", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--full", action="store_true", help="also the lengths and first/closing-launch variants")
    parser.add_argument("--jobs", type=int, default=1, help="parallel compile processes")
    parser.add_argument("--variant", nargs="+", default=["vanilla"], choices=list(VARIANTS),
                        help="LSTM variants (DESIGN §4) whose specialisations to compile")
    parser.add_argument("--strategy", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES),
                        help="only the kernels of these launcher strategies")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a markdown table")
    args = parser.parse_args(argv)
    table = report(args.hidden, args.dtype, args.arch, args.batch, args.full, args.jobs, args.variant, args.strategy)
    print(json.dumps(table, indent=1) if args.json else markdown(table))
    return 0 if all(r["ok"] for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
