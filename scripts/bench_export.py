"""Latency of the exported default forecaster: onnxruntime against PyTorch eager, batch 1.

The network is the default experiment's (``experiment=forecast_sunspots``: LSTMForecaster, 2 layers of 64 units,
input 1, horizon 1; seeded random weights: latency does not depend on their values), wrapped as
:class:`lstmkit.export.StatefulForecaster` (``x, h0, c0 -> forecast, h_n, c_n``) and exported to ONNX by
:func:`lstmkit.export.export`. Two calls, each timed for both contenders interleaved round-robin:

- ``one step``: ``x (1, 1, 1)`` with carried states (a streaming server's call);
- ``one window``: ``x (1, 24, 1)`` from zero states (the whole-window forecast).

Prints the command, sizes, threads, the load average, median µs per call and the ratio onnxruntime / eager.

    python scripts/bench_export.py                   # 1 thread (the experiment's threads: 1), 200 calls each
    python scripts/bench_export.py --threads 2 --calls 500
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from lstmkit.export import Inference, StatefulForecaster, export
from lstmkit.models.forecasting import LSTMForecaster


def timed(call, calls: int) -> list[float]:
    """µs of each of ``calls`` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e6)
    return times


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=200, help="calls per contender and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median is over all calls)")
    parser.add_argument("--window", type=int, default=24)
    args = parser.parse_args(argv)
    import onnxruntime

    print("command:", " ".join(["python", "scripts/bench_export.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; threads {args.threads}; torch "
          f"{torch.__version__}, onnxruntime {onnxruntime.__version__}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    network = StatefulForecaster(LSTMForecaster(input_size=1, hidden_size=64, num_layers=2, horizon=1)).eval()
    zeros = torch.zeros(2, 1, 64)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "forecaster.onnx"
        example = {"x": torch.randn(2, args.window, 1), "h0": torch.zeros(2, 2, 64), "c0": torch.zeros(2, 2, 64)}
        export(Inference(network, example, {"x": {0: "batch", 1: "time"}, "h0": {1: "batch"}, "c0": {1: "batch"}},
                         {"forecast": {}, "h_n": {}, "c_n": {}}), path, "onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = args.threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    results = {}
    for name, steps in (("one step", 1), ("one window", args.window)):
        x, state = torch.randn(1, steps, 1), torch.randn(2, 1, 64) if steps == 1 else zeros
        feeds = {"x": x.numpy(), "h0": state.numpy(), "c0": state.numpy()}
        with torch.no_grad():
            expected = network(x, state, state)[0]
        got = torch.from_numpy(session.run(None, feeds)[0])
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)  # the contenders compute the same
        calls = {"pytorch eager": lambda x=x, state=state: network(x, state, state),
                 "onnxruntime": lambda feeds=feeds: session.run(None, feeds)}
        times = {name: [] for name in calls}
        with torch.no_grad():
            for _ in range(args.rounds):
                for contender, call in calls.items():
                    times[contender] += timed(call, args.calls)
        medians = {k: statistics.median(v) for k, v in times.items()}
        results[name] = medians
        print(f"{name:<11} x (1, {steps}, 1): pytorch eager {medians['pytorch eager']:8.1f} µs, onnxruntime "
              f"{medians['onnxruntime']:8.1f} µs, ratio onnxruntime / eager "
              f"{medians['onnxruntime'] / medians['pytorch eager']:.2f}")
    return results


if __name__ == "__main__":
    main()
