"""Benchmark one training step (forward, loss, backward, optimizer step) of experiments' networks, eager against
``torch.compile`` (inductor, what ``model.compile=true`` runs), measured in the same run.

Prints, per experiment, the first compiled step's time (the compilation) and the median milliseconds of an eager
and of a compiled step over interleaved repeats, with their ratio. The networks are the experiments' own (Hydra
configs), with the data-dependent sizes set to the data's (``--vocab``, ``--classes``); batches are random, with the
experiment's batch size and sequence length.

    python scripts/bench_compile.py                                 # three experiments of different sizes
    python scripts/bench_compile.py --experiments forecast_sunspots --repeats 20 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import hydra
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lstmkit.utils.hydra import CONFIG_MODULE

DEFAULT = ["forecast_sunspots", "speaker_japanese_vowels", "lm_ptb_word"]


def build(experiment: str, vocab: int, classes: int) -> tuple[torch.nn.Module, dict]:
    """The experiment's network and its data config (plain dicts)."""
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}"])
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    for argument in getattr(hydra.utils.get_class(cfg.model._target_), "sizes", {}):
        net_cfg[argument] = vocab if "vocab" in argument else classes
    return hydra.utils.instantiate(net_cfg), OmegaConf.to_container(cfg.data, resolve=True)


def make_step(net: torch.nn.Module, data: dict, vocab: int, classes: int):
    """A batch as the experiment's task passes it, and ``loss(net) -> scalar`` for it."""
    kind, batch = type(net).__name__, data.get("batch_size", 16)
    if kind == "LSTMForecaster":
        x = torch.randn(batch, data["input_length"], net.lstm.input_size)
        target = torch.randn(batch, net.horizon, net.outputs)
        return lambda model: F.mse_loss(model(x), target)
    if kind == "LSTMClassifier":
        steps = 24
        x, lengths = torch.randn(batch, steps, net.lstm.input_size), torch.randint(steps // 2, steps + 1, (batch,))
        labels = torch.randint(0, classes, (batch,))
        return lambda model: F.cross_entropy(model(x, lengths), labels)
    if kind == "LSTMLanguageModel":
        tokens = torch.randint(0, vocab, (batch, data["bptt"] + 1))
        return lambda model: F.cross_entropy(model(tokens[:, :-1])[0].flatten(0, 1), tokens[:, 1:].flatten())
    raise SystemExit(f"no batch for {kind}: choose an experiment with a forecaster, series classifier or LM")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--vocab", type=int, default=10000, help="vocabulary size for text networks (PTB words)")
    parser.add_argument("--classes", type=int, default=9, help="classes for classifiers (Japanese Vowels)")
    parser.add_argument("--dynamic", default="auto", choices=["auto", "true", "false"], help="torch.compile dynamic")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dynamic = {"auto": None, "true": True, "false": False}[args.dynamic]
    print("command: python " + " ".join(sys.argv))
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} repeats={args.repeats} (interleaved) "
          f"warmup={args.warmup} dynamic={args.dynamic}")
    print("| experiment | parameters | first compiled step s | eager step ms | compiled step ms | compiled/eager |")
    print("|---|---|---|---|---|---|")
    for experiment in args.experiments:
        torch.manual_seed(0)
        net, data = build(experiment, args.vocab, args.classes)
        loss = make_step(net, data, args.vocab, args.classes)
        eager, compiled = net.train(), copy.deepcopy(net).train()
        compiled.compile(dynamic=dynamic)  # in place, as model.compile=true does
        steps = {}
        for name, model in (("eager", eager), ("compiled", compiled)):
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(model=model, optimizer=optimizer, loss=loss):
                optimizer.zero_grad(set_to_none=True)
                loss(model).backward()
                optimizer.step()

            steps[name] = step
        start = time.perf_counter()
        steps["compiled"]()
        first = time.perf_counter() - start
        times = {name: [] for name in steps}
        for i in range(args.warmup + args.repeats):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                if i >= args.warmup:
                    times[name].append((time.perf_counter() - start) * 1e3)
        e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
        params = sum(p.numel() for p in net.parameters())
        print(f"| {experiment} | {params:,} | {first:.1f} | {e:.2f} | {c:.2f} | {c / e:.2f}x |")


if __name__ == "__main__":
    main()
