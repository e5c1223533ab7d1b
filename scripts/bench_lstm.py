"""Benchmark lstmkit's LSTM backends against torch.nn.LSTM measured in the same run.

Prints, per shape and backend, the median milliseconds of forward (under no_grad) and of
forward+backward, and the ratio to torch.nn.LSTM. ``loop`` is the same LSTM (with ``--variant``'s options)
written as an autograd loop over time (what the reference backend's hand-written backward replaces), with the
input projection hoisted out of the loop; ``--cell-loop`` adds ``cell loop``, the projection inside the loop.
With ``--variant``, lstmkit's contenders run that variant in training mode while torch.nn.LSTM stays
the vanilla LSTM (cuDNN/oneDNN cannot run the variants): the ratio is the price of the variant.
``--cuda-graphs`` adds, for every module contender, a ``[graphed]`` row: the module itself captured (forward
alone in one CUDA graph under no_grad; forward+backward with ``torch.cuda.make_graphed_callables`` on the module,
so backward includes every weight gradient, on both sides). The plain rows stay eager (lstmkit's step strategy
still replays its own per-shape graphs there). Times are also given per time step (µs).

    python scripts/bench_lstm.py                         # CPU, fp32, default shapes
    python scripts/bench_lstm.py --device cuda --dtype bfloat16 --cuda-graphs
    python scripts/bench_lstm.py --shapes 32x100x256x256 --backend reference --repeats 20
    python scripts/bench_lstm.py --shapes 32x100x256x256 --variant layer_norm --gemm-floor
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from lstmkit.nn import LSTM
from lstmkit.ops import available_backends
from lstmkit.utils import keep_freed_memory

VARIANTS = {
    "none": {},
    "layer_norm": dict(layer_norm=True),
    "zoneout": dict(zoneout_cell=0.1, zoneout_hidden=0.1),
    "recurrent_dropout": dict(recurrent_dropout=0.25),
    "weight_drop": dict(weight_drop=0.5),
    "all": dict(layer_norm=True, zoneout_cell=0.1, zoneout_hidden=0.1, recurrent_dropout=0.25, weight_drop=0.5),
}


def _ln(v, gain, bias=None):
    return torch.nn.functional.layer_norm(v, v.shape[-1:], gain, bias, 1e-5)


def loop_lstm(lstm: LSTM, x: torch.Tensor, per_step: bool = False) -> torch.Tensor:
    """One-layer LSTM (with ``lstm``'s variant options, training mode) as a plain autograd loop over
    time: the baseline that a hand-written backward beats. By default the input projection (and its
    LayerNorm) is one GEMM over all steps before the loop; ``per_step`` computes it inside the loop, as a
    cell called once per time step does (e.g. PyTorch's benchmarks/fastrnns LayerNormLSTMCell)."""
    v = lstm.variant
    w_hh = lstm.weight_hh_l0
    if v.weight_drop:
        w_hh = torch.nn.functional.dropout(w_hh, v.weight_drop)
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0

    def project(x_part):
        p = x_part @ lstm.weight_ih_l0.t()
        return _ln(p, lstm.layer_norm_ih_l0) + bias if v.layer_norm else p + bias

    # unbind, not pre[t]: indexing's backward scatters every step's gradient into a zeroed (T, B, 4H)
    # tensor, O(T²) memory traffic that would make the baseline slower than a sensible loop
    pre = None if per_step else project(x).unbind(0)
    h = x.new_zeros(x.shape[1], lstm.hidden_size)
    c = torch.zeros_like(h)
    keep = 1 - v.recurrent_dropout
    mask = torch.bernoulli(torch.full_like(h, keep)) / keep if v.recurrent_dropout else None
    outs = []
    for t in range(x.shape[0]):
        r = (h * mask if mask is not None else h) @ w_hh.t()
        a = (project(x[t]) if per_step else pre[t]) + (_ln(r, lstm.layer_norm_hh_l0) if v.layer_norm else r)
        i, f, g, o = a.chunk(4, dim=-1)
        c_hat = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # the output sees ĉ, c carries zoneout
        c_out = _ln(c_hat, lstm.layer_norm_c_weight_l0, lstm.layer_norm_c_bias_l0) if v.layer_norm else c_hat
        h_new = torch.sigmoid(o) * torch.tanh(c_out)
        c_new = torch.lerp(c_hat, c, torch.bernoulli(torch.full_like(c, v.zoneout_cell))) if v.zoneout_cell else c_hat
        if v.zoneout_hidden:
            h_new = torch.lerp(h_new, h, torch.bernoulli(torch.full_like(h, v.zoneout_hidden)))
        h, c = h_new, c_new
        outs.append(h)
    return torch.stack(outs)


def gemm_floor(lstm: LSTM, x: torch.Tensor, backward: bool) -> None:
    """Only the matrix products that any one-layer LSTM forward (+ backward) must do, on the same sizes: the input
    projection and one recurrent product per step, then backward's per-step ``dA W_hh`` and its three large
    GEMMs (dX, dW_ih, dW_hh). No elementwise work: the time no implementation can go below at this GEMM speed,
    so ``loop / floor`` bounds how much faster than the loop any backend can be."""
    steps, batch, _ = x.shape
    w_ih, w_hh = lstm.weight_ih_l0.detach(), lstm.weight_hh_l0.detach()
    h = x.new_ones(batch, lstm.hidden_size)
    pre = x @ w_ih.t()
    for _ in range(steps):
        torch.mm(h, w_hh.t(), out=pre[0])
    if backward:
        d_pre = torch.ones_like(pre)
        for t in range(steps):
            torch.mm(d_pre[t], w_hh)
        flat = d_pre.view(steps * batch, -1)
        h_all = pre.view(steps * batch, -1)[:, : lstm.hidden_size]  # a strided view: BLAS reads it in place
        flat @ w_ih, flat.t() @ x.view(steps * batch, -1), flat.t() @ h_all


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_once(fn, device) -> float:
    start = time.perf_counter()
    fn()
    sync(device)
    return (time.perf_counter() - start) * 1e3


GRAPHED = " [graphed]"


class Output(torch.nn.Module):
    """``lstm(x)[0]`` with the LSTM as a submodule, so that ``torch.cuda.make_graphed_callables`` sees its
    parameters and the graphed backward produces their gradients."""

    def __init__(self, lstm: torch.nn.Module) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


def build(backend: str, shape, dtype, device, baseline: torch.nn.LSTM, variant: dict):
    """One contender, with the baseline's weights (torch.nn.LSTM is always the vanilla LSTM; the others run
    ``variant``, in training mode): an :class:`Output` module, a loop callable ``x -> output``, or the baseline
    itself for the GEMM floor."""
    backend = backend.removesuffix(GRAPHED)
    if backend == "torch.nn.LSTM":
        return Output(baseline)
    if backend == "gemm floor":
        return baseline
    loop = backend in ("loop", "cell loop")
    ours = LSTM(shape[2], shape[3], backend="reference" if loop else backend, device=device,
                dtype=dtype, **variant)
    ours.load_state_dict(baseline.state_dict(), strict=False)
    if loop:
        return lambda x: loop_lstm(ours, x, per_step=backend == "cell loop")
    return Output(ours)


def graphed_calls(module: Output, x, grad):
    """``(forward, forward+backward)`` replaying CUDA graphs of ``module``: the forward alone captured under
    no_grad, then forward+backward through ``torch.cuda.make_graphed_callables`` (weight gradients included)."""
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(side):
        for _ in range(3):  # warm-up off the capture (kernel compilation, cuDNN/cuBLAS workspaces)
            module(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        module(static_x)
    xg = x.clone().requires_grad_()
    graphed = torch.cuda.make_graphed_callables(module, (xg,))
    return graph.replay, lambda: graphed(xg).backward(grad)


def timed_calls(fn, x, grad, device, graphed: bool):
    """``(forward under no_grad, forward+backward)`` callables for one contender."""
    xg = x.clone().requires_grad_()
    if isinstance(fn, torch.nn.LSTM):  # the GEMM floor, measured on the baseline's weights
        return (lambda: gemm_floor(fn, x, backward=False)), (lambda: gemm_floor(fn, x, backward=True))
    if graphed:
        return graphed_calls(fn, x, grad)

    def fwd():
        with torch.no_grad():
            fn(x)

    def fwd_bwd():
        fn(xg).backward(grad)

    return fwd, fwd_bwd


def bench_shape(shape, backends, dtype, device, repeats, warmup, variant):
    """Median ms per contender (a ``[graphed]`` suffix: replayed CUDA graphs). Repeats are interleaved round-robin
    over the contenders, so a change in machine load during the run affects every contender alike and the ratios
    stay meaningful."""
    batch, steps, inp, hid = shape
    torch.manual_seed(0)
    baseline = torch.nn.LSTM(inp, hid, device=device, dtype=dtype)
    x = torch.randn(steps, batch, inp, device=device, dtype=dtype)
    grad = torch.randn(steps, batch, hid, device=device, dtype=dtype)
    calls = {b: timed_calls(build(b, shape, dtype, device, baseline, variant), x, grad, device, b.endswith(GRAPHED))
             for b in backends}
    times = {b: ([], []) for b in backends}
    for r in range(warmup + repeats):
        for b, pair in calls.items():
            for fn, store in zip(pair, times[b]):
                elapsed = time_once(fn, device)
                if r >= warmup:
                    store.append(elapsed)
    return [(b, statistics.median(f), statistics.median(fb)) for b, (f, fb) in times.items()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    parser.add_argument("--backend", action="append", help="backend(s) to time (default: every available one)")
    parser.add_argument("--shapes", nargs="+", default=["32x100x256x256", "16x1024x768x768"],
                        help="BxTxIxH sizes (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="also time every module contender captured in CUDA graphs (rows marked [graphed])")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    parser.add_argument("--no-loop", action="store_true", help="skip the autograd-loop baseline")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="call lstmkit.utils.keep_freed_memory() first (what scripts/train.py does by default)")
    parser.add_argument("--cell-loop", action="store_true",
                        help="also time the loop with the input projection inside it (a cell called per step)")
    parser.add_argument("--gemm-floor", action="store_true",
                        help="also time only the GEMMs an LSTM must do (the bound below which no backend can go)")
    parser.add_argument("--variant", default="none", choices=list(VARIANTS),
                        help="run lstmkit's contenders with this variant (torch.nn.LSTM stays vanilla)")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    kept = keep_freed_memory() if args.keep_freed_memory else False
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.backend:
        ours = args.backend
    elif args.variant != "none":
        ours = ["reference"] + (["triton"] if device.type == "cuda" and "triton" in available_backends() else [])
    else:
        has_triton = device.type == "cuda" and "triton" in available_backends()
        ours = ["auto", "aten", "reference"] + (["triton"] if has_triton else [])
    if args.cuda_graphs and device.type != "cuda":
        parser.error("--cuda-graphs: needs --device cuda")
    modules = ["torch.nn.LSTM", *ours]
    contenders = (modules + ([m + GRAPHED for m in modules] if args.cuda_graphs else [])
                  + ([] if args.no_loop else ["loop"]) + (["cell loop"] if args.cell_loop else [])
                  + (["gemm floor"] if args.gemm_floor else []))

    print("command: python " + " ".join(sys.argv))
    print(f"device={device} dtype={args.dtype} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"repeats={args.repeats} (interleaved) warmup={args.warmup} cuda_graphs={args.cuda_graphs} "
          f"variant={args.variant} keep_freed_memory={kept}")
    header = (f"| {'B x T x I x H':>18} | {'backend':>24} | {'fwd ms':>9} | {'fwd+bwd ms':>10} "
              f"| {'fwd µs/step':>11} | {'f+b µs/step':>11} | {'fwd ratio':>9} | {'f+b ratio':>9} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for spec in args.shapes:
        shape = tuple(int(v) for v in spec.lower().split("x"))
        if len(shape) != 4:
            parser.error(f"--shapes: expected BxTxIxH, got {spec!r}")
        rows = bench_shape(shape, contenders, dtype, device, args.repeats, args.warmup, VARIANTS[args.variant])
        base_f, base_fb = rows[0][1], rows[0][2]
        for backend, f, fb in rows:
            us = 1e3 / shape[1]  # ms per call -> µs per step
            print(f"| {spec:>18} | {backend:>24} | {f:9.2f} | {fb:10.2f} | {f * us:11.2f} | {fb * us:11.2f} "
                  f"| {f / base_f:8.2f}x | {fb / base_fb:8.2f}x |")


if __name__ == "__main__":
    main()
