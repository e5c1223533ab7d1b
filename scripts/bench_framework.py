"""Framework overhead: seconds per optimizer step of the framework's training against a hand-written PyTorch loop
over the same network, data, optimizer, steps and threads, in one process; and the time from process start to the
first training step of ``scripts/train.py``.

    python scripts/bench_framework.py           # sine_regression, forecast_sunspots (default), lm_ptb_word
    python scripts/bench_framework.py --experiments sine_regression --repeats 5

Contenders, interleaved round-robin in each repeat (so a change of machine load hits all alike):

- ``hand loop``: ``for idx in randperm(N).split(B)`` over the in-memory training tensors (forecasting) or stream
  slices (language model), ``zero_grad`` / loss / ``backward`` / clipping as configured / ``step``;
- ``framework``: :func:`lstmkit.train.train_once`, the experiment as configured (callbacks, TensorBoard logger,
  validation every epoch, checkpoints), with early stopping off so the step count is fixed, testing off;
- ``lightning floor``: the same network and loss in a bare ``LightningModule`` (no logging, no callbacks, no
  logger, no progress bar, no validation) fed by the experiment's own data loader;
- ``empty step``: a ``training_step`` that returns a constant loss of one parameter: what Lightning's loop and
  the data loader cost per step with (almost) no compute.

``s/step`` is the mean time between consecutive training batches inside an epoch (data fetch, forward, backward,
optimizer, per-step logging and callbacks such as the periodic ``last.ckpt``); ``fit s/step`` divides the whole
``fit`` from its first training batch (validation and epoch-end checkpoints included) by the steps. Start-up: the
time from launching ``python scripts/train.py experiment=<name>`` to its first training batch, in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# steps per contender; None: the experiment's own max_epochs (sine_regression: 20 epochs = 440 steps)
DEFAULT_STEPS = {"sine_regression": None, "forecast_sunspots": 300, "lm_ptb_word": 30}
CLOCKS: list = []  # StepClock instances created by Hydra in this process
Clock = namedtuple("Clock", "wall cpu")  # seconds


def now() -> Clock:
    """Wall time and this process's CPU time (all threads): on a loaded machine the CPU time of a one-thread
    run still measures the work done, where the wall time also counts the waits for a core."""
    return Clock(time.perf_counter(), time.process_time())


def step_clock():
    """A callback recording when each training batch starts, and when training ends (built via ``_target_``)."""
    import lightning as L

    class StepClock(L.Callback):
        def __init__(self) -> None:
            self.starts: list[tuple[int, Clock]] = []  # (epoch, clock readings) per training batch
            self.end = Clock(0.0, 0.0)

        def on_train_batch_start(self, trainer, *args) -> None:
            self.starts.append((trainer.current_epoch, now()))

        def on_train_end(self, trainer, *args) -> None:
            self.end = now()

        def per_step(self) -> tuple[Clock, Clock]:
            """(mean in-epoch interval between batches, (end - first batch) / steps), wall and CPU seconds."""
            pairs = [(a, b) for (ea, a), (eb, b) in zip(self.starts, self.starts[1:]) if ea == eb]
            first, steps = self.starts[0][1], len(self.starts)
            return (Clock(*(statistics.fmean(b[i] - a[i] for a, b in pairs) for i in (0, 1))),
                    Clock(*((self.end[i] - first[i]) / steps for i in (0, 1))))

    clock = StepClock()
    CLOCKS.append(clock)
    return clock


def first_step_exit():
    """For the start-up child process: at the first training batch, write the seconds since ``BENCH_T0`` (set by
    the parent just before it launched the process) and the process's CPU seconds to ``BENCH_STARTUP_FILE``, and
    exit at once."""
    import lightning as L

    class FirstStepExit(L.Callback):
        def on_train_batch_start(self, *args) -> None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.time() - float(os.environ["BENCH_T0"])
            Path(os.environ["BENCH_STARTUP_FILE"]).write_text(f"{wall} {usage.ru_utime + usage.ru_stime}")
            os._exit(0)

    return FirstStepExit()


def compose(experiment: str, overrides: list[str], output_dir: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from lstmkit.utils.hydra import CONFIG_MODULE

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = hydra_compose("train", [f"experiment={experiment}", *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.paths.log_dir = output_dir
        cfg.paths.work_dir = os.getcwd()
    HydraConfig().set_config(cfg)
    return cfg


class Workload:
    """The experiment's network, optimizer, loss and in-memory training data, for the hand loop and the floor."""

    def __init__(self, cfg) -> None:
        import hydra
        import lightning as L

        from lstmkit.utils.hydra import instantiate

        L.seed_everything(cfg.seed)
        self.cfg = cfg
        self.datamodule = instantiate(cfg.data, "data")
        self.datamodule.setup("fit")
        self.train = self.datamodule.datasets["train"]
        self.language_model = hasattr(self.train, "stream")
        net_cfg = dict(cfg.model.net)
        if self.language_model:
            net_cfg["vocab_size"] = len(self.datamodule.vocab.tokens)
        self.make_net = lambda: hydra.utils.instantiate(net_cfg)
        self.make_optimizer = lambda params: hydra.utils.instantiate(cfg.model.optimizer)(params)
        self.clip = cfg.trainer.get("gradient_clip_val")
        self.state = None  # the language model's carried state

    def batches(self, epoch: int):
        """The training batches of one epoch, drawn from the in-memory tensors."""
        import torch

        if self.language_model:
            stream, bptt = self.train.stream, self.train.bptt  # (rows, columns) int64
            self.state = None
            for start in range(0, stream.shape[1] - 1, bptt):
                end = min(start + bptt, stream.shape[1] - 1)
                yield stream[:, start:end], stream[:, start + 1:end + 1]
            return
        tensors = self.train.tensors  # x (N, L, F), future (N, H, C), y (N, H)
        order = torch.randperm(len(tensors[0]), generator=torch.Generator().manual_seed(epoch))
        for idx in order.split(self.datamodule.batch_size):
            yield tuple(t[idx] for t in tensors)

    def loss(self, net, batch):
        import torch.nn.functional as F

        if self.language_model:
            x, y = batch
            logits, state = net(x, self.state)
            self.state = (state[0].detach(), state[1].detach())
            return F.cross_entropy(logits.flatten(0, 1), y.flatten())
        x, future, y = batch
        out = net(x, future, y)
        return (F.mse_loss if self.cfg.model.loss == "mse" else F.l1_loss)(out[..., 0], y)


def hand_loop(work: Workload, steps: int) -> Clock:
    """Seconds per optimizer step of a plain PyTorch training loop."""
    import torch

    net = work.make_net().train()
    optimizer = work.make_optimizer(net.parameters())
    done, epoch = 0, 0
    start = now()
    while done < steps:
        for batch in work.batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = work.loss(net, batch)
            loss.backward()
            if work.clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), work.clip)
            optimizer.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    end = now()
    return Clock((end.wall - start.wall) / steps, (end.cpu - start.cpu) / steps)


def lightning_floor(work: Workload, steps: int, empty: bool) -> Clock:
    """Seconds per step of a bare LightningModule over the experiment's data loader (``empty``: no compute)."""
    import lightning as L
    import torch

    class Bare(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = work.make_net()
            self.anchor = torch.nn.Parameter(torch.zeros(()))

        def training_step(self, batch, batch_idx):
            return self.anchor * 1.0 if empty else work.loss(self.net, batch)

        def configure_optimizers(self):
            return work.make_optimizer(self.parameters())

    clock = step_clock()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, max_epochs=-1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[clock],
                        gradient_clip_val=None if empty else work.clip)
    work.datamodule.trainer = trainer  # the resumable loader reads the trainer's progress
    trainer.fit(Bare(), train_dataloaders=work.datamodule.train_dataloader())
    return clock.per_step()[0]


def framework(experiment: str, overrides: list[str]) -> tuple[Clock, Clock, int]:
    """(s/step, fit s/step, steps) of :func:`lstmkit.train.train_once` on the experiment."""
    from lstmkit.train import prepare_run, train_once

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as out:
        cfg = compose(experiment, [*overrides, f"+callbacks.bench_clock._target_={__name__}.step_clock"], out)
        prepare_run(cfg)
        result = train_once(cfg)
    step, fit = CLOCKS[-1].per_step()
    return step, fit, result["global_step"]


def bench(experiment: str, steps: int | None, repeats: int, threads: int,
          extra: tuple[str, ...] = (), variant: tuple[str, ...] = ()) -> dict[str, list[Clock]]:
    import torch

    from lstmkit.utils.memory import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()  # as scripts/train.py does by default (extras.keep_freed_memory), for every contender
    # optimized_metric=null: a run shorter than an epoch (lm_ptb_word) never validates, so has no val/…_best
    quiet = ["extras.print_config=false", "test=false", "optimized_metric=null", f"threads={threads}",
             "callbacks.early_stopping=null", *extra]
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as out:
        cfg = compose(experiment, quiet, out)
        if steps is None:
            work = Workload(cfg)
            steps = cfg.trainer.max_epochs * -(-len(work.train) // work.datamodule.batch_size)
        overrides = [*quiet, f"+trainer.max_steps={steps}", "trainer.max_epochs=-1"]
        work = Workload(compose(experiment, overrides, out))
    print(f"\n{experiment}: {steps} steps, batch {work.datamodule.batch_size}, {threads} thread(s), "
          f"{type(work.make_net()).__name__} ({cfg.model.net.get('hidden_size')} units, "
          f"{cfg.model.net.get('num_layers')} layers)", flush=True)
    times: dict[str, list[Clock]] = {k: [] for k in CONTENDERS}
    if variant:
        times["variant"] = []
    for repeat in range(repeats):
        times["hand loop"].append(hand_loop(work, steps))
        step, fit, done = framework(experiment, overrides)
        if done != steps:
            raise RuntimeError(f"{experiment}: the framework ran {done} steps, expected {steps}")
        times["framework"].append(step)
        times["fit"].append(fit)
        if variant:
            times["variant"].append(framework(experiment, [*overrides, *variant])[0])
        times["lightning floor"].append(lightning_floor(work, steps, empty=False))
        times["empty step"].append(lightning_floor(work, steps, empty=True))
        print(f"  repeat {repeat + 1} (ms/step, wall/CPU): "
              + ", ".join(f"{k} {v[-1].wall * 1e3:.2f}/{v[-1].cpu * 1e3:.2f}" for k, v in times.items()), flush=True)
    return times


CONTENDERS = ("hand loop", "framework", "fit", "lightning floor", "empty step")


def startup(experiment: str, python: str) -> Clock:
    """Seconds from launching ``scripts/train.py experiment=<name>`` to its first training batch: wall, and the
    CPU time the process had used by then."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as out:
        marker = Path(out) / "startup"
        env = {**os.environ, "BENCH_STARTUP_FILE": str(marker),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts"), os.environ.get("PYTHONPATH")]))}
        command = [python, str(ROOT / "scripts" / "train.py"), f"experiment={experiment}", f"hydra.run.dir={out}/run",
                   "+callbacks.first_step._target_=bench_framework.first_step_exit"]
        env["BENCH_T0"] = repr(time.time())
        proc = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True)
        if not marker.exists():
            raise RuntimeError(f"{' '.join(command)} did not reach a training step:\n{proc.stderr[-3000:]}")
        return Clock(*map(float, marker.read_text().split()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=list(DEFAULT_STEPS))
    parser.add_argument("--steps", type=int, default=None, help="steps per contender (default: per experiment)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variant", nargs="+", default=[], metavar="OVERRIDE",
                        help="also time the framework with these Hydra overrides, interleaved (an A/B of a setting)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every contender, e.g. "
                        "callbacks.step_checkpoint=null to see what one callback costs")
    args = parser.parse_args()
    t0 = time.time()
    print(f"python {' '.join(sys.argv)}\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    results = []
    for experiment in args.experiments:
        times = bench(experiment, args.steps or DEFAULT_STEPS.get(experiment), args.repeats, args.threads,
                      tuple(args.overrides), tuple(args.variant))
        starts = []
        for _ in range(args.startup_repeats):
            starts.append(startup(experiment, sys.executable))
            print(f"  start-up to the first training step: {starts[-1].wall:.2f} s wall, {starts[-1].cpu:.2f} s CPU",
                  flush=True)
        results.append((experiment, times, starts))

    print(f"\nmedians of {args.repeats} repeats, ms per optimizer step, wall / CPU; ratios: medians of the per-repeat "
          f"ratios to the hand loop; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.time() - t0:.0f} s in all\n")
    print("| experiment | hand loop | framework | ratio wall / CPU | fit (with validation) | fit ratio wall / CPU "
          "| Lightning floor | empty step | start-up to first step, s wall / CPU (all wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for experiment, times, start in results:
        walls = ", ".join(f"{s.wall:.2f}" for s in start)
        started = (f"{statistics.median(s.wall for s in start):.2f} / {statistics.median(s.cpu for s in start):.2f} "
                   f"({walls})") if start else "not measured"
        print(f"| {experiment} | {ms(times, 'hand loop')} | {ms(times, 'framework')} | {ratio(times, 'framework')} "
              f"| {ms(times, 'fit')} | {ratio(times, 'fit')} | {ms(times, 'lightning floor')} "
              f"| {ms(times, 'empty step')} | {started} |")
        if "variant" in times:
            print(f"\nframework with {' '.join(args.variant)}: {ms(times, 'variant')} ms/step, "
                  f"{ratio(times, 'variant')} the hand loop, {ratio(times, 'variant', 'framework')} the framework")


def ms(times: dict[str, list[Clock]], name: str) -> str:
    """Median wall / CPU milliseconds per step of one contender."""
    return " / ".join(f"{statistics.median(getattr(c, k) for c in times[name]) * 1e3:.2f}" for k in Clock._fields)


def ratio(times: dict[str, list[Clock]], name: str, baseline: str = "hand loop") -> str:
    """Median over repeats of the contender's time divided by the baseline's of the same repeat, wall / CPU."""
    pairs = list(zip(times[name], times[baseline]))
    return " / ".join(f"{statistics.median(getattr(c, k) / getattr(h, k) for c, h in pairs):.2f}x"
                      for k in Clock._fields)

if __name__ == "__main__":
    main()
