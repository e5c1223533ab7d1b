"""Tasks sized by the data's vocabularies (lstmkit.tasks.vocabulary), against hand counts: the network is built
exactly once, with the vocabulary's size; a size given in the config must be the data's; a checkpoint's
hyperparameters rebuild the network without data, and init_from loads its weights into a new task."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lstmkit.models.language_model import LSTMLanguageModel
from lstmkit.tasks.language_model import LanguageModelTask
from lstmkit.train import load_weights

TOKENS = ["<pad>", "<unk>", "<eos>", "<bos>", "a", "b", "c"]  # 7 entries


def make_task(vocab_size=None):
    net = {"_target_": "lstmkit.models.language_model.LSTMLanguageModel", "vocab_size": vocab_size,
           "embedding_size": 4, "hidden_size": 4, "num_layers": 1}
    return LanguageModelTask(net=net, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})


def attach_data(task, tokens=TOKENS):
    task._trainer = SimpleNamespace(datamodule=SimpleNamespace(vocabularies=lambda: {"tokens": tokens}))


@pytest.fixture
def builds(monkeypatch):
    """How many LSTMLanguageModel networks were constructed."""
    calls = []
    original = LSTMLanguageModel.__init__

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("vocab_size", args[0] if args else None))
        original(self, *args, **kwargs)

    monkeypatch.setattr(LSTMLanguageModel, "__init__", counting)
    return calls


def test_network_is_built_once_in_setup_with_the_vocabulary_size(builds):
    task = make_task()
    assert task.net is None and builds == []
    attach_data(task)
    task.setup("fit")
    assert builds == [7]
    assert task.net.embedding.num_embeddings == 7 and task.hparams.net["vocab_size"] == 7
    assert task.hparams.vocabs == {"tokens": TOKENS}
    task.setup("test")  # a second stage: same data, nothing rebuilt
    assert builds == [7]


def test_checkpoint_hyperparameters_rebuild_without_data(builds):
    task = make_task()
    attach_data(task)
    task.setup("fit")
    restored = LanguageModelTask(**task.hparams)  # what load_from_checkpoint does with the stored hparams
    assert builds == [7, 7] and restored.net.embedding.num_embeddings == 7
    attach_data(restored, TOKENS[:-1])
    with pytest.raises(ValueError, match=r"vocabularies \['tokens'\] differ"):
        restored.setup("test")


def test_a_config_size_must_be_the_data_size(builds):
    task = make_task(vocab_size=5)
    assert builds == [5]  # sized in the config: built in __init__
    attach_data(task)
    with pytest.raises(ValueError, match=r"model.net \{'vocab_size': 5\}.*\{'vocab_size': 7\}"):
        task.setup("fit")


def test_init_from_builds_the_network_from_the_checkpoint_vocabularies(tmp_path, builds):
    trained = make_task()
    attach_data(trained)
    trained.setup("fit")
    path = tmp_path / "run.ckpt"
    torch.save({"state_dict": trained.state_dict(), "hyper_parameters": dict(trained.hparams)}, path)
    fresh = make_task()
    load_weights(fresh, str(path))
    assert builds == [7, 7] and fresh.hparams.vocabs == {"tokens": TOKENS}
    for (name, want), got in zip(trained.net.state_dict().items(), fresh.net.state_dict().values()):
        assert torch.equal(got, want), name
