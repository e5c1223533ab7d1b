"""The shared LightningModule: what every task gets from the framework.

- The network, optimizer and scheduler come as configs (``_target_``; optimizer and scheduler with
  ``_partial_: true``) or as Python objects. Configs are stored by ``save_hyperparameters()`` as plain data, so
  ``Task.load_from_checkpoint(path)`` rebuilds the model and the checkpoint loads with ``weights_only=True``.
- torchmetrics collections logged as ``train/…``, ``val/…``, ``test/…``, plus ``val/<metric>_best``: fed every
  step (in one update every few steps, :mod:`lstmkit.tasks.metric_buffer`), computed and logged once per epoch
  (a ``self.log`` per step and metric is most of what Lightning costs per step on a small model).
- ``train/loss`` (the epoch's mean), ``train/grad_norm`` (total 2-norm before clipping, at the steps Lightning
  writes step metrics: every ``trainer.log_every_n_steps``); learning rates come from Lightning's
  ``LearningRateMonitor`` (tag ``train/lr`` when a scheduler is configured).
- Global RNG states are saved in every checkpoint and restored just before the first training batch after a
  resume, so a run resumed mid-epoch draws the same dropout masks as an uninterrupted one.
- Media: override :meth:`log_media` and call :meth:`log_figure`, :meth:`log_text` or :meth:`log_image`; it runs
  after validation every ``media_every_n_epochs`` epochs and after testing, only when TensorBoard is a logger.

A subclass implements :meth:`make_metrics` and :meth:`step`; see :mod:`lstmkit.tasks.forecasting`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection, MinMetric

from lstmkit.tasks.metric_buffer import MetricBuffer
from lstmkit.utils.rng import collect_rng_states, set_rng_states

STAGES = ("train", "val", "test")
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_SCHEDULER_CONFIG = {"monitor": "val/loss", "interval": "epoch", "frequency": 1, "name": "train/lr"}


def build(spec: Mapping | Callable, *args: Any) -> Any:
    """Call a ``_partial_: true`` config (instantiated first) or a Python callable with ``args``."""
    if isinstance(spec, Mapping):
        spec = hydra.utils.instantiate(spec)
    if not callable(spec):
        raise TypeError(f"expected a callable or a config with _target_ and _partial_: true, got {spec!r}")
    return spec(*args)


class Task(L.LightningModule):
    """Base LightningModule.

    Args:
        net: the network: an ``nn.Module`` or its config (``_target_`` + arguments).
        optimizer: ``_partial_`` config or callable taking the parameters, e.g. ``functools.partial(Adam, lr=1e-3)``.
        scheduler: ``_partial_`` config or callable taking the optimizer; ``None`` for a constant rate.
        scheduler_config: Lightning's lr-scheduler settings (``interval``, ``frequency``, ``monitor``, ``name``).
        best_metric: the validation metric whose best value is logged as ``<best_metric>_best``.
        best_mode: ``"min"`` or ``"max"``: which direction is better for ``best_metric``.
        log_grad_norm: log ``train/grad_norm`` every ``trainer.log_every_n_steps`` optimizer steps.
        media_every_n_epochs: call :meth:`log_media` after every n-th validation (0: only after testing).
        compile: ``torch.compile`` the network in :meth:`configure_model` (after ``setup`` has built it), in place
            (``nn.Module.compile``): parameter names keep no ``_orig_mod.`` prefix, so checkpoints load into
            compiled and uncompiled models alike.
        compile_dynamic: ``torch.compile``'s ``dynamic``: ``None`` (automatic: the first shape change recompiles
            once with dynamic shapes), ``True`` or ``False``.
        compile_mode: ``torch.compile``'s ``mode``: ``None``, ``"default"``, ``"reduce-overhead"``,
            ``"max-autotune"`` or ``"max-autotune-no-cudagraphs"``.
    """

    def __init__(
        self,
        net: nn.Module | Mapping,
        optimizer: Mapping | Callable,
        scheduler: Mapping | Callable | None = None,
        scheduler_config: Mapping | None = None,
        best_metric: str = "val/loss",
        best_mode: str = "min",
        log_grad_norm: bool = True,
        media_every_n_epochs: int = 5,
        compile: bool = False,
        compile_dynamic: bool | None = None,
        compile_mode: str | None = None,
    ) -> None:
        super().__init__()
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode: expected one of {list(COMPILE_MODES)}, got {compile_mode!r}")
        if best_mode not in ("min", "max"):
            raise ValueError(f"best_mode: expected 'min' or 'max', got {best_mode!r}")
        if not best_metric.startswith("val/"):
            raise ValueError(f"best_metric: expected a validation metric name 'val/…', got {best_metric!r}")
        self.save_hyperparameters(ignore=["net"] if isinstance(net, nn.Module) else None, logger=False)
        for key, value in self.hparams.items():  # plain data: portable and safe to load with weights_only=True
            if isinstance(value, (DictConfig, ListConfig)):
                self.hparams[key] = OmegaConf.to_container(value, resolve=True)
        self.net: nn.Module | None = net if isinstance(net, nn.Module) else None
        for stage in STAGES:  # attributes, not a ModuleDict: "train" is taken by nn.Module.train
            setattr(self, f"{stage}_loss", MeanMetric())
        self.train_loss.persistent(True)  # a mid-epoch checkpoint keeps the epoch's running totals
        self._metric_buffers: dict[str, MetricBuffer] = {}  # per stage, from build_network
        if self.net is not None or self.network_is_sized():
            self.build_network()
        self.val_best = MinMetric() if best_mode == "min" else MaxMetric()
        self.val_best.persistent(True)
        self._pending_rng_states: dict | None = None
        self._compiled_net_id: int | None = None

    def network_is_sized(self) -> bool:
        """Whether ``hparams.net`` holds every size; a task whose sizes come from the data defers
        :meth:`build_network` to its ``setup`` until they do."""
        return True

    def build_network(self) -> None:
        """Build the network from ``hparams.net`` (unless it was given as a module) and the per-stage metrics."""
        if self.net is None:
            self.net = hydra.utils.instantiate(self.hparams.net)
        metrics = self.make_metrics()  # may depend on the network's sizes (e.g. the number of classes)
        for stage in STAGES:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))
        self.train_metrics.persistent(True)  # a mid-epoch checkpoint keeps the epoch's running totals
        self._metric_buffers = {stage: MetricBuffer(getattr(self, f"{stage}_loss"), getattr(self, f"{stage}_metrics"))
                                for stage in STAGES}

    # ---- for subclasses -------------------------------------------------------------------------------
    def make_metrics(self) -> MetricCollection:
        """The task's metrics, updated with ``(preds, target)`` from :meth:`step`; cloned per stage."""
        raise NotImplementedError

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, preds, target)`` for one batch; ``preds``/``target`` go to the metrics."""
        raise NotImplementedError

    def log_media(self, stage: str) -> None:
        """Log figures, text or images for ``stage`` (``"val"`` or ``"test"``); no-op by default."""

    # ---- Lightning hooks ------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.net(*args, **kwargs)

    def _shared_step(self, batch: Any, stage: str) -> dict[str, Tensor]:
        loss, preds, target = self.step(batch)
        preds = preds.detach()
        self._metric_buffers[stage].update(loss.detach(), target.shape[0], preds, target)
        return {"loss": loss, "preds": preds, "target": target}

    def log_epoch_metrics(self, stage: str) -> None:
        """Log ``<stage>/loss`` and the stage's metrics for the epoch; Lightning computes them (synchronised across
        processes) and resets them when the epoch ends, as for metric objects logged from a step."""
        self.flush_metric_updates()
        self.log(f"{stage}/loss", getattr(self, f"{stage}_loss"), on_step=False, on_epoch=True, prog_bar=True)
        self.log_dict(getattr(self, f"{stage}_metrics"), on_step=False, on_epoch=True)

    def flush_metric_updates(self) -> None:
        """Pass every step seen so far to the metric objects (before reading them mid-epoch)."""
        for buffer in self._metric_buffers.values():
            buffer.flush()

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.flush_metric_updates()  # a checkpoint's metric states include every step taken
        return super().state_dict(*args, **kwargs)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")["loss"]

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.step(batch)[1]

    def on_train_epoch_end(self) -> None:
        self.log_epoch_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_metrics("val")
        if self.trainer.sanity_checking:
            return
        name = self.hparams.best_metric
        if name == "val/loss":
            current = self.val_loss.compute()
        elif name in self.val_metrics.keys(keep_base=False):
            current = self.val_metrics[name].compute()
        else:
            raise KeyError(f"best_metric={name!r} is not a validation metric of this task; "
                           f"valid: {['val/loss', *self.val_metrics.keys(keep_base=False)]}")
        self.val_best(current)
        self.log(f"{name}_best", self.val_best.compute(), sync_dist=True, prog_bar=True)
        every = self.hparams.media_every_n_epochs
        if every and (self.current_epoch + 1) % every == 0 and self.tensorboard is not None:
            self.log_media("val")

    def on_test_epoch_end(self) -> None:
        self.log_epoch_metrics("test")
        if self.tensorboard is not None:
            self.log_media("test")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # global_step counts the optimizer steps taken before this one: Lightning writes step metrics when
        # (that count + 1) is a multiple of log_every_n_steps, so the norm is computed only for those steps
        every = self.trainer.log_every_n_steps
        if self.hparams.log_grad_norm and every and (self.global_step + 1) % every == 0:
            grads = [p.grad for p in self.parameters() if p.grad is not None]
            if grads:
                self.log("train/grad_norm", torch.nn.utils.get_total_norm(grads, norm_type=2.0),
                         on_step=True, on_epoch=False)

    def configure_model(self) -> None:
        if self.hparams.compile and self.net is not None and self._compiled_net_id != id(self.net):  # once per net
            self.net.compile(dynamic=self.hparams.compile_dynamic, mode=self.hparams.compile_mode)
            self._compiled_net_id = id(self.net)

    def configure_optimizers(self) -> Any:
        optimizer = build(self.hparams.optimizer, [p for p in self.parameters() if p.requires_grad])
        if self.hparams.scheduler is None:
            return optimizer
        scheduler = build(self.hparams.scheduler, optimizer)
        settings = {**DEFAULT_SCHEDULER_CONFIG, **(self.hparams.scheduler_config or {})}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, **settings}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng_states"] = collect_rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._pending_rng_states = checkpoint.get("rng_states")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Restored here rather than at load time: between loading and this point Lightning may run a sanity
        # check and create iterators, which an uninterrupted run did not do at this point.
        if self._pending_rng_states is not None:
            set_rng_states(self._pending_rng_states)
            self._pending_rng_states = None

    # ---- media helpers --------------------------------------------------------------------------------
    @property
    def tensorboard(self):
        """The TensorBoard ``SummaryWriter`` of the first TensorBoardLogger, or ``None``."""
        if self._trainer is None:
            return None
        for logger in self.trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    def log_figure(self, tag: str, figure: Any) -> None:
        """A matplotlib figure, e.g. from :func:`new_figure`."""
        if self.tensorboard is not None and figure is not None:
            self.tensorboard.add_figure(tag, figure, global_step=self.global_step, close=False)

    def log_text(self, tag: str, text: str) -> None:
        """Markdown text."""
        if self.tensorboard is not None:
            self.tensorboard.add_text(tag, text, global_step=self.global_step)

    def log_image(self, tag: str, image: Tensor, dataformats: str = "CHW") -> None:
        """An image tensor, float in [0, 1] or uint8, laid out as ``dataformats``."""
        if self.tensorboard is not None:
            self.tensorboard.add_image(tag, image, global_step=self.global_step, dataformats=dataformats)


def new_figure(**kwargs: Any):
    """A ``matplotlib.figure.Figure`` (no pyplot, so no GUI backend), or ``None`` with a warning when
    matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        rank_zero_warn("matplotlib is not installed, so figures are not logged: pip install 'lstmkit[data]'")
        return None
    return Figure(**kwargs)
