"""A Rich progress bar that does its per-batch work only at the batches it redraws.

Lightning's ``RichProgressBar`` updates its counter and re-reads the progress-bar metrics after every training batch
and leaves only the redraw to ``refresh_rate``; on a small model that is ~0.15 ms of a ~8 ms step
(``python scripts/bench_framework.py``). Written here because Lightning has no setting for it: this subclass skips
the batches between redraws, so the bar and its metrics are the same whenever they are drawn.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar


class SparseRichProgressBar(RichProgressBar):
    """``RichProgressBar`` whose training-batch update runs every ``refresh_rate`` batches and at an epoch's last."""

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        done = batch_idx + 1
        if done % max(self.refresh_rate, 1) == 0 or done == self.total_train_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
