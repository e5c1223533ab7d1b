"""The shared base of the tasks whose network sizes are vocabulary sizes: tokens, tags, characters, classes.

A config leaves such a size ``null`` ("from the data"); the task then builds its network (and the metrics, which
may depend on the sizes) once, in :meth:`VocabularySizedTask.setup`, which Lightning calls after the datamodule's
``setup`` and before it restores a checkpoint or configures the optimizer, with the sizes of
``datamodule.vocabularies()``. The vocabularies are stored in the hyperparameters, so a checkpoint rebuilds its
network in ``__init__`` (``load_from_checkpoint``) and decodes (``scripts/generate.py``) without the data.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, ClassVar

from torch import nn

from lstmkit.tasks.base import Task


class VocabularySizedTask(Task):
    """A :class:`Task` whose network arguments ``sizes`` (``{net argument: vocabulary name}``) come from
    ``datamodule.vocabularies() -> {name: [token, ...]}``.

    Args:
        vocabs: the vocabularies; ``None`` until the first ``setup`` (then stored in the checkpoint).
        **task_args: see :class:`lstmkit.tasks.base.Task`.
    """

    sizes: ClassVar[dict[str, str]] = {}

    def __init__(self, *, net: nn.Module | MutableMapping, vocabs: dict[str, list[str]] | None = None,
                 **task_args: Any) -> None:
        super().__init__(net=net, **task_args)

    def network_is_sized(self) -> bool:
        return all(self.hparams.net.get(argument) is not None for argument in self.sizes)

    def build_for(self, vocabs: dict[str, list[str]]) -> None:
        """Store ``vocabs`` and build the network with their sizes (in ``setup``, or from a checkpoint's
        vocabularies for ``init_from``)."""
        self.hparams.vocabs = vocabs
        self.hparams.net.update({argument: len(vocabs[name]) for argument, name in self.sizes.items()})
        self.build_network()

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        vocabs = {name: list(tokens) for name, tokens in datamodule.vocabularies().items()}
        if self.hparams.vocabs is None:
            self.hparams.vocabs = vocabs
            if self.net is None:
                self.build_for(vocabs)
            elif "net" in self.hparams:  # sizes given in the config: they must be the data's
                wrong = {argument: self.hparams.net[argument] for argument, name in self.sizes.items()
                         if self.hparams.net[argument] != len(vocabs[name])}
                if wrong:
                    raise ValueError(f"model.net {wrong}: the data's vocabularies have "
                                     f"{ {a: len(vocabs[self.sizes[a]]) for a in wrong} } entries; "
                                     "leave these sizes null to take them from the data")
        elif self.hparams.vocabs != vocabs:
            changed = sorted(name for name in vocabs if vocabs[name] != self.hparams.vocabs.get(name))
            raise ValueError(f"the data's vocabularies {changed} differ from the ones this model was trained with "
                             "(data options such as min_freq or the files must match the checkpoint's)")
