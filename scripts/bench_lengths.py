"""Benchmark variable-length batches: lstmkit's ``lengths=`` path against torch.nn.LSTM on a PackedSequence.

Lengths are drawn uniformly in [T/8, T] (seeded), a skewed batch where packing pays. Contenders, same weights:

- ``torch packed``: ``torch.nn.LSTM`` on ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` (the baseline);
- ``torch padded``: ``torch.nn.LSTM`` on the padded batch, no lengths: all T steps for every row (the floor a
  lengths path must beat to be worth having);
- ``lstmkit <backend>``: ``lstmkit.nn.LSTM(backend=...)(x, lengths=lengths)`` (``aten`` packs internally;
  ``reference`` shrinks the active rows step by step).

Prints the command, sizes, median ms of forward (no_grad) and forward+backward (loss = output · cotangent over the
valid steps), interleaved round-robin, and ratios to ``torch packed``.

    python scripts/bench_lengths.py                      # B=64, T=512, H=256 (I = H)
    python scripts/bench_lengths.py --batch 16 --steps 64 --hidden 32 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.nn import LSTM


def contenders(batch, steps, hidden, backends, seed=0):
    """name -> (forward callable ``x -> padded output``, x, cotangent); lengths uniform in [T/8, T]."""
    torch.manual_seed(seed)
    torch_lstm = torch.nn.LSTM(hidden, hidden)
    x = torch.randn(steps, batch, hidden)
    lengths = torch.randint(max(1, steps // 8), steps + 1, (batch,))
    valid = (torch.arange(steps).unsqueeze(1) < lengths).unsqueeze(-1)  # (T, B, 1)
    grad = torch.randn(steps, batch, hidden) * valid

    def packed(inp):
        out, _ = torch_lstm(pack_padded_sequence(inp, lengths, enforce_sorted=False))
        return pad_packed_sequence(out, total_length=steps)[0]

    calls = {"torch packed": packed, "torch padded": lambda inp: torch_lstm(inp)[0]}
    for backend in backends:
        ours = LSTM(hidden, hidden, backend=backend)
        ours.load_state_dict(torch_lstm.state_dict())
        calls[f"lstmkit {backend}"] = lambda inp, m=ours: m(inp, lengths=lengths)[0]
    return calls, x, grad, lengths


def bench(batch, steps, hidden, backends, repeats, warmup) -> tuple[list[tuple[str, float, float]], torch.Tensor]:
    calls, x, grad, lengths = contenders(batch, steps, hidden, backends)
    times = {name: ([], []) for name in calls}
    for r in range(warmup + repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            with torch.no_grad():
                fn(x)
            mid = time.perf_counter()
            fn(x.clone().requires_grad_()).backward(grad)
            end = time.perf_counter()
            if r >= warmup:
                times[name][0].append((mid - start) * 1e3)
                times[name][1].append((end - mid) * 1e3)
    return [(n, statistics.median(f), statistics.median(fb)) for n, (f, fb) in times.items()], lengths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--backend", action="append", help="lstmkit backend(s) (default: aten and reference)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, lengths = bench(args.batch, args.steps, args.hidden, args.backend or ["aten", "reference"], args.repeats,
                          args.warmup)
    print("command: python " + " ".join(sys.argv))
    print(f"B={args.batch} T={args.steps} I=H={args.hidden} lengths uniform in [{max(1, args.steps // 8)}, "
          f"{args.steps}] (mean {lengths.float().mean():.0f}, {lengths.sum() / (args.batch * args.steps):.0%} of "
          f"B·T valid) torch={torch.__version__} threads={torch.get_num_threads()} repeats={args.repeats} "
          f"(interleaved) warmup={args.warmup}")
    print("| contender | fwd ms | fwd+bwd ms | fwd ratio | f+b ratio |")
    print("|---|---|---|---|---|")
    base_f, base_fb = rows[0][1], rows[0][2]
    for name, f, fb in rows:
        print(f"| {name} | {f:.1f} | {fb:.1f} | {f / base_f:.2f}x | {fb / base_fb:.2f}x |")


if __name__ == "__main__":
    main()
