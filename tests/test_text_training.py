"""One short real training per text task: on a small slice of the real data, the training loss falls well below
the untrained model's loss on the same batches (the language model's run is in test_text_lm.py)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import compose_config
from lightning.pytorch.callbacks import Callback

from lstmkit.utils.hydra import instantiate


class StepLosses(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.parametrize(("experiment", "overrides", "epochs", "fraction"), [
    ("sentiment_reviews", ["data.max_length=60", "model.net.dropout=0.0"], 12, 0.3),
    ("tagging_restoration", ["model.net.dropout=0.0", "model.net.num_layers=1"], 12, 0.4),
    pytest.param("g2p_cmudict", ["model.net.dropout=0.0", "model.net.encoder_layers=1", "model.optimizer.lr=0.01",
                                 "model.scheduler=null"],  # its ReduceLROnPlateau watches val/wer: no validation here
                 15, 0.4, marks=pytest.mark.slow),
])
def test_short_training_lowers_the_loss(experiment, overrides, epochs, fraction, tmp_path):
    torch.set_num_threads(1)
    cfg = compose_config("train", [f"experiment={experiment}", "data.batch_size=16", *overrides], tmp_path)
    L.seed_everything(0)
    datamodule = instantiate(cfg.data, "data")
    datamodule.setup("fit")
    for name in ("train", "val"):  # 48 training and 16 validation examples of the real data
        size = 48 if name == "train" else 16
        datamodule.datasets[name] = torch.utils.data.Subset(datamodule.datasets[name], range(size))
    model = instantiate(cfg.model, "model")
    losses = StepLosses()
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[losses], limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    first, last = losses.losses[0], sum(losses.losses[-3:]) / 3
    assert last < fraction * first, f"{experiment}: training loss {first:.3f} -> {last:.3f}"
