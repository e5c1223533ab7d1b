"""Batched metric updates: a task's per-step ``(loss, preds, target)`` are kept and passed to its torchmetrics
objects in one update every few steps, instead of one update per step.

Written here because torchmetrics has no batched-update helper, and at batch 32 one ``MetricCollection.update`` of
five regression metrics plus the mean loss costs ~0.6 ms per step — an eighth of a small model's whole step
(``python scripts/bench_framework.py``). The metrics' states are sums over samples (or, for the mean loss, sums of
``value · weight`` and of ``weight``), so updating with the concatenation of several batches gives the state of
updating with each batch in turn, up to the order of the floating-point additions.

What is kept is flushed into the metrics:

- when ``max_steps`` steps are waiting, or ``max_elements`` prediction elements (a memory bound: a language model's
  logits go straight through);
- when a batch does not concatenate with the waiting ones (another trailing shape, dtype or device);
- by :meth:`flush`, which the task calls before it computes or logs an epoch's metrics and before every
  ``state_dict()`` (so a checkpoint holds every step seen so far, as the exact-resume guarantee needs).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection


class MetricBuffer:
    """The waiting updates of one stage's ``loss`` metric and metric collection."""

    def __init__(self, loss: MeanMetric, metrics: MetricCollection, max_steps: int = 32,
                 max_elements: int = 1 << 18) -> None:
        if max_steps < 1 or max_elements < 1:
            raise ValueError(f"max_steps and max_elements: expected >= 1, got {max_steps} and {max_elements}")
        self.loss, self.metrics = loss, metrics
        self.max_steps, self.max_elements = max_steps, max_elements
        self.losses: list[Tensor] = []  # () each, detached
        self.weights: list[int] = []  # samples behind each loss
        self.preds: list[Tensor] = []
        self.targets: list[Tensor] = []
        self.elements = 0

    def update(self, loss: Tensor, weight: int, preds: Tensor, target: Tensor) -> None:
        """Keep one step's detached mean ``loss`` over ``weight`` samples and its detached ``(preds, target)``."""
        if self.preds and not (_joins(self.preds[0], preds) and _joins(self.targets[0], target)):
            self.flush()
        self.losses.append(loss.reshape(()))
        self.weights.append(weight)
        self.preds.append(preds)
        self.targets.append(target)
        self.elements += preds.numel()
        if len(self.losses) >= self.max_steps or self.elements >= self.max_elements:
            self.flush()

    def flush(self) -> None:
        """Pass every waiting step to the metrics, in one update each."""
        if not self.losses:
            return
        losses = torch.stack(self.losses)
        weights = torch.tensor(self.weights, dtype=losses.dtype, device=losses.device)
        self.loss.update(losses, weight=weights)
        preds, targets = self.preds, self.targets
        self.metrics.update(preds[0] if len(preds) == 1 else torch.cat(preds),
                            targets[0] if len(targets) == 1 else torch.cat(targets))
        self.losses, self.weights, self.preds, self.targets, self.elements = [], [], [], [], 0


def _joins(first: Tensor, other: Tensor) -> bool:
    """Whether ``other`` concatenates with ``first`` along dim 0 without a change of dtype or device."""
    return (first.dim() > 0 and first.shape[1:] == other.shape[1:] and first.dtype == other.dtype
            and first.device == other.device)
