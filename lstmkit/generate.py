"""Text generation from a language-model checkpoint:
``python scripts/generate.py ckpt_path=.../best.ckpt prompt="the company said" temperature=0.8 top_k=40``.

The checkpoint holds the network and its vocabulary, so no data are read. Prints ``num_samples`` continuations.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from lstmkit.tasks.language_model import LanguageModelTask
from lstmkit.utils.hydra import hydra_entry


def run(cfg: DictConfig) -> list[str]:
    """Load ``cfg.ckpt_path`` and continue ``cfg.prompt``; returns (and prints) the samples."""
    if not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path: no checkpoint file at {cfg.ckpt_path!r}")
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    task = LanguageModelTask.load_from_checkpoint(cfg.ckpt_path, map_location="cpu", weights_only=True)
    generator = torch.Generator().manual_seed(cfg.seed)
    samples = [task.sample(cfg.prompt, cfg.max_new_tokens, cfg.temperature, cfg.top_k, cfg.top_p, generator)
               for _ in range(cfg.num_samples)]
    for i, sample in enumerate(samples):
        print(f"--- sample {i + 1} ---\n{sample}")
    return samples


main = hydra_entry(run, config_name="generate")

if __name__ == "__main__":
    main()
