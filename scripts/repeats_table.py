"""Per-seed and mean ± sd table of test metrics from the ``metrics.json`` of a ``repeats=N`` run, for the model
(``test/<metric>``) and every baseline logged next to it (``test/<baseline>/<metric>``).

    python scripts/train.py experiment=anomaly_co2 repeats=3
    python scripts/repeats_table.py logs/anomaly_co2/train/<time>/metrics.json --metrics f1 pr_auc

sd is the sample standard deviation (n - 1) over the seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def repeats_table(summary: dict, metrics: list[str], model: str = "lstm") -> list[list[str]]:
    """Rows ``[seed, model, metric values…]`` per seed and model, then ``mean ± sd`` rows per model."""
    runs = summary.get("repeats")
    if not runs:
        raise ValueError("metrics.json has no 'repeats' list: run the experiment with repeats=N (N >= 2)")
    first = runs[0]["test"]
    baselines = sorted({key.split("/")[1] for key in first if key.count("/") == 2 and key.endswith(f"/{metrics[0]}")})
    models = {model: "test/{}", **{name: f"test/{name}/{{}}" for name in baselines}}
    for name, pattern in models.items():
        missing = [m for m in metrics if pattern.format(m) not in first]
        if missing:
            raise KeyError(f"{name}: metrics {missing} not logged; logged: {sorted(first)}")
    rows = [[str(run["seed"]), name, *(f"{run['test'][pattern.format(m)]:.3f}" for m in metrics)]
            for run in runs for name, pattern in models.items()]
    for name, pattern in models.items():
        cells = []
        for m in metrics:
            values = [run["test"][pattern.format(m)] for run in runs]
            cells.append(f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}")
        rows.append([f"mean ± sd ({len(runs)} seeds)", name, *cells])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics_json", type=Path)
    parser.add_argument("--metrics", nargs="+", default=["f1", "pr_auc"])
    parser.add_argument("--model", default="lstm", help="name of the model whose metrics are logged as test/<metric>")
    args = parser.parse_args()
    rows = repeats_table(json.loads(args.metrics_json.read_text()), args.metrics, args.model)
    print(f"| seed | model | {' | '.join(args.metrics)} |")
    print("|---|---|" + "---|" * len(args.metrics))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
