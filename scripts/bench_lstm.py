"""Benchmark lstmkit's LSTM backends against torch.nn.LSTM measured in the same run.

Prints, per shape and backend, the median milliseconds of forward (under no_grad) and of
forward+backward, and the ratio to torch.nn.LSTM. ``loop`` is the same LSTM written as an autograd
loop over time (what the reference backend's hand-written backward replaces).

    python scripts/bench_lstm.py                         # CPU, fp32, default shapes
    python scripts/bench_lstm.py --device cuda --dtype bfloat16 --cuda-graphs
    python scripts/bench_lstm.py --shapes 32x100x256x256 --backend reference --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from lstmkit.nn import LSTM
from lstmkit.ops import available_backends


def loop_lstm(lstm: torch.nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """One-layer LSTM as a plain autograd loop over time (the baseline a hand-written backward beats)."""
    w_ih, w_hh, b_ih, b_hh = lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0
    pre = torch.nn.functional.linear(x, w_ih, b_ih + b_hh)
    h = x.new_zeros(x.shape[1], lstm.hidden_size)
    c = torch.zeros_like(h)
    outs = []
    for t in range(x.shape[0]):
        i, f, g, o = (pre[t] + h @ w_hh.t()).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def build(backend: str, shape, dtype, device, baseline: torch.nn.LSTM):
    """A callable ``x -> output`` for one contender, with the baseline's weights."""
    if backend == "torch.nn.LSTM":
        return lambda x: baseline(x)[0]
    if backend == "loop":
        return lambda x: loop_lstm(baseline, x)
    ours = LSTM(shape[2], shape[3], backend=backend, device=device, dtype=dtype)
    ours.load_state_dict(baseline.state_dict())
    return lambda x: ours(x)[0]


def time_contender(fn, x, grad, device, repeats, warmup, cuda_graphs):
    """Median ms of ``fn(x)`` under no_grad and of ``fn(x).backward(grad)``."""
    xg = x.clone().requires_grad_()
    if cuda_graphs and device.type == "cuda":
        fn = torch.cuda.make_graphed_callables(_Wrap(fn), (xg,))

    def fwd():
        with torch.no_grad():
            fn(x)

    def fwd_bwd():
        fn(xg).backward(grad)

    return median_ms(fwd, device, repeats, warmup), median_ms(fwd_bwd, device, repeats, warmup)


def bench_shape(shape, backends, dtype, device, repeats, warmup, cuda_graphs):
    batch, steps, inp, hid = shape
    torch.manual_seed(0)
    baseline = torch.nn.LSTM(inp, hid, device=device, dtype=dtype)
    x = torch.randn(steps, batch, inp, device=device, dtype=dtype)
    grad = torch.randn(steps, batch, hid, device=device, dtype=dtype)
    rows = []
    for backend in backends:
        fn = build(backend, shape, dtype, device, baseline)
        graphs = cuda_graphs and backend != "loop"
        rows.append((backend, *time_contender(fn, x, grad, device, repeats, warmup, graphs)))
    return rows


class _Wrap(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    parser.add_argument("--backend", action="append", help="backend(s) to time (default: every available one)")
    parser.add_argument("--shapes", nargs="+", default=["32x100x256x256", "16x1024x768x768"],
                        help="BxTxIxH sizes (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cuda-graphs", action="store_true", help="capture each contender with CUDA graphs")
    parser.add_argument("--no-loop", action="store_true", help="skip the autograd-loop baseline")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if args.backend:
        ours = args.backend
    else:
        has_triton = device.type == "cuda" and "triton" in available_backends()
        ours = ["auto", "aten", "reference"] + (["triton"] if has_triton else [])
    contenders = ["torch.nn.LSTM", *ours] + ([] if args.no_loop else ["loop"])

    print("command: python " + " ".join(sys.argv))
    print(f"device={device} dtype={args.dtype} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"repeats={args.repeats} cuda_graphs={args.cuda_graphs}")
    header = (f"| {'B x T x I x H':>18} | {'backend':>14} | {'fwd ms':>9} | {'fwd+bwd ms':>10} "
              f"| {'fwd ratio':>9} | {'f+b ratio':>9} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for spec in args.shapes:
        shape = tuple(int(v) for v in spec.lower().split("x"))
        if len(shape) != 4:
            parser.error(f"--shapes: expected BxTxIxH, got {spec!r}")
        rows = bench_shape(shape, contenders, dtype, device, args.repeats, args.warmup, args.cuda_graphs)
        base_f, base_fb = rows[0][1], rows[0][2]
        for backend, f, fb in rows:
            print(f"| {spec:>18} | {backend:>14} | {f:9.2f} | {fb:10.2f} | {f / base_f:8.2f}x | {fb / base_fb:8.2f}x |")


if __name__ == "__main__":
    main()
