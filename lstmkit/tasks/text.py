"""The shared base of the text tasks: network sizes that depend on the data (vocabulary sizes).

The network is built in ``__init__`` (by :class:`lstmkit.tasks.base.Task`), before any data is read. A text
task therefore builds it with placeholder sizes, and rebuilds it in :meth:`setup` — which Lightning calls after
the datamodule's ``setup`` and before it restores a checkpoint or configures the optimizer — with the sizes of
the datamodule's vocabularies (the metrics too, which may depend on them). The vocabularies are stored in the
hyperparameters, so a checkpoint rebuilds its network (``load_from_checkpoint``) and decodes
(``scripts/generate.py``) without the data.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import nullcontext
from typing import Any, ClassVar

import hydra
from omegaconf import DictConfig, open_dict
from torch import nn

from lstmkit.tasks.base import STAGES, Task


class TextTask(Task):
    """A :class:`Task` whose network arguments ``sizes`` (``{net argument: vocabulary name}``) come from
    ``datamodule.vocabularies() -> {name: [token, ...]}``.

    Args:
        vocabs: the vocabularies; ``None`` until the first ``setup`` (then stored in the checkpoint).
        **task_args: see :class:`lstmkit.tasks.base.Task`.
    """

    sizes: ClassVar[dict[str, str]] = {}

    def __init__(self, *, net: nn.Module | MutableMapping, vocabs: dict[str, list[str]] | None = None,
                 **task_args: Any) -> None:
        # Filled in place: Lightning's save_hyperparameters reads the arguments of the outermost __init__, which
        # holds this same object. None (the configs' value) means "from the data"; a checkpoint holds the sizes.
        with open_dict(net) if isinstance(net, DictConfig) else nullcontext():
            for argument in self.sizes if not isinstance(net, nn.Module) else ():
                if net.get(argument) is None:
                    net[argument] = 2  # a placeholder that every size check accepts (e.g. 2 classes)
        super().__init__(net=net, **task_args)

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        vocabs = {name: list(tokens) for name, tokens in datamodule.vocabularies().items()}
        if self.hparams.vocabs is None:
            self.hparams.vocabs = vocabs
            if "net" not in self.hparams:  # given as a module: already built with its sizes
                return
            self.hparams.net.update({argument: len(vocabs[name]) for argument, name in self.sizes.items()})
            self.net = hydra.utils.instantiate(self.hparams.net)
            metrics = self.make_metrics()  # they may depend on the sizes (e.g. the number of classes)
            for name in STAGES:
                setattr(self, f"{name}_metrics", metrics.clone(prefix=f"{name}/"))
            self.train_metrics.persistent(True)
        elif self.hparams.vocabs != vocabs:
            changed = sorted(name for name in vocabs if vocabs[name] != self.hparams.vocabs.get(name))
            raise ValueError(f"the data's vocabularies {changed} differ from the ones this model was trained with "
                             "(data options such as min_freq or the files must match the checkpoint's)")
