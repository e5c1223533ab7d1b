"""A datamodule base whose fitted data preparation travels in every checkpoint, for :mod:`lstmkit.predict`.

Lightning saves ``datamodule.state_dict()`` into each checkpoint under the datamodule's class name; this base adds
``"preparation"``: what :meth:`PreparedDataModule.preparation` returns (scalers, vocabularies, column and feature
lists, as plain str/int/float/list/dict, so the checkpoint loads with ``weights_only=True``) and ``"task"``, the
import path of the LightningModule that trained on it.
"""

from __future__ import annotations

from typing import Any

from lstmkit.data.resumable import ResumableDataModule

__all__ = ["PreparedDataModule", "checkpoint_preparation"]


class PreparedDataModule(ResumableDataModule):
    """Subclasses implement :meth:`preparation` (valid once ``setup`` has built ``self.datasets``)."""

    def preparation(self) -> dict[str, Any]:
        """``{"kind": <task family>, ...}``: everything a prediction on new data needs, as plain data."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.datasets:
            state["preparation"] = self.preparation()
            task = self.trainer.lightning_module if self.trainer is not None else None
            if task is not None:
                state["preparation"]["task"] = f"{type(task).__module__}.{type(task).__qualname__}"
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "preparation"})


def checkpoint_preparation(checkpoint: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``"preparation"`` a :class:`PreparedDataModule` stored in a loaded ``checkpoint`` (``path`` names it)."""
    for value in checkpoint.values():
        if isinstance(value, dict) and isinstance(value.get("preparation"), dict):
            return value["preparation"]
    raise ValueError(f"{path}: the checkpoint holds no data preparation; it was trained on a built-in data set "
                     "(predictions need a model trained on a file: experiment=forecast_csv, text_csv, series_csv, "
                     "speech_csv)")

