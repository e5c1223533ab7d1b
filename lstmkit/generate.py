"""Text generation from a language-model checkpoint:
``python scripts/generate.py ckpt_path=.../best.ckpt prompt="the company said" temperature=0.8 top_k=40``.

The checkpoint holds the network and its vocabulary, so no data are read. Prints ``num_samples`` continuations.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from lstmkit.tasks.language_model import LanguageModelTask
from lstmkit.utils.checkpoint import load_task
from lstmkit.utils.hydra import hydra_entry


def run(cfg: DictConfig) -> list[str]:
    """Load ``cfg.ckpt_path`` and continue ``cfg.prompt``; returns (and prints) the samples."""
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    task = load_task(LanguageModelTask, cfg.ckpt_path, "ckpt_path")
    generator = torch.Generator().manual_seed(cfg.seed)
    samples = [task.sample(cfg.prompt, cfg.max_new_tokens, cfg.temperature, cfg.top_k, cfg.top_p, generator)
               for _ in range(cfg.num_samples)]
    for i, sample in enumerate(samples):
        print(f"--- sample {i + 1} ---\n{sample}")
    return samples


main = hydra_entry(run, config_name="generate")

if __name__ == "__main__":
    main()
