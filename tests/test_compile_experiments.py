"""Every ``experiment=``'s network compiles with ``torch.compile(fullgraph=True)`` (no graph break), in train and
eval mode, called as its task calls it (with ``lengths`` where the task has them). Networks come from the composed
Hydra configs with the data-dependent sizes filled in and the widths made small."""

from __future__ import annotations

import hydra
import pytest
import torch
from helpers import EXPERIMENTS, compose_config
from omegaconf import OmegaConf

SMALL = {"hidden_size": 8, "embedding_size": 6, "attention_size": 8, "feature_size": 6}
BATCH, STEPS = 3, 12


def build_net(experiment: str) -> torch.nn.Module:
    cfg = compose_config("train", [f"experiment={experiment}"])
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    for argument in getattr(hydra.utils.get_class(cfg.model._target_), "sizes", {}):
        net_cfg[argument] = 7  # a vocabulary or class count from the data
    for argument in ("input_size", "future_size"):  # a user's file sets these (experiment=forecast_csv)
        if argument in net_cfg and net_cfg[argument] is None:
            net_cfg[argument] = 2
    net_cfg.update({k: v for k, v in SMALL.items() if k in net_cfg})
    if isinstance(net_cfg.get("encoder"), dict):
        net_cfg["encoder"].update({k: v for k, v in SMALL.items() if k in net_cfg["encoder"]})
    torch.manual_seed(0)
    return hydra.utils.instantiate(net_cfg)


def inputs_for(net: torch.nn.Module) -> tuple:
    """A batch as the network's task passes it (see each task's ``step``)."""
    kind = type(net).__name__
    lengths = torch.tensor([STEPS, STEPS - 3, 4])
    tokens = torch.randint(1, 7, (BATCH, STEPS))
    if kind == "LSTMForecaster":
        future = torch.randn(BATCH, net.horizon, net.future_size) if net.future_size else None
        return torch.randn(BATCH, STEPS, net.lstm.input_size), future, torch.randn(BATCH, net.horizon)
    if kind == "LSTMClassifier":
        encoder = type(net.encoder).__name__
        if net.encoder is not None:
            conv = next(m for m in net.encoder.modules() if isinstance(m, torch.nn.modules.conv._ConvNd))
            channels = conv.in_channels
        if encoder == "FrameCNN":
            return torch.randn(BATCH, STEPS, channels, 24, 24), lengths  # 24: the experiment's data.canvas
        if encoder == "WindowCNN":
            raw = STEPS * net.encoder.hop + net.encoder.window
            return torch.randn(BATCH, raw, channels), lengths * net.encoder.hop + net.encoder.window
        return torch.randn(BATCH, STEPS, net.lstm.input_size), lengths
    if kind == "CTCRecognizer":
        return torch.randn(BATCH, 3 * STEPS, net.lstm.input_size // net.stride), lengths * 3
    if kind == "AttentionSeq2Seq":
        return tokens, lengths, torch.randint(1, 7, (BATCH, 5))
    if kind in ("BiLSTMClassifier", "BiLSTMTagger"):
        return tokens, lengths
    if kind == "LSTMLanguageModel":
        return (tokens,)
    raise AssertionError(f"no sample batch for {kind}: add one as its task calls it")


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_network_compiles_fullgraph_in_train_and_eval(experiment):
    """fullgraph=True raises on any graph break; the "eager" backend runs Dynamo's tracing (with the custom ops'
    fake implementations) and nothing more, so the check costs no code generation. Outputs equal eager in eval mode
    (in training the graph may draw its dropout masks in another order than eager Python)."""
    net = build_net(experiment)
    inputs = inputs_for(net)
    for training in (True, False):
        torch._dynamo.reset()
        net.train(training)
        torch.manual_seed(3)
        eager = net(*inputs)
        torch.manual_seed(3)
        compiled = torch.compile(net, fullgraph=True, backend="eager")(*inputs)
        for got, expected in zip(torch.utils._pytree.tree_leaves(compiled), torch.utils._pytree.tree_leaves(eager)):
            assert got.shape == expected.shape, (experiment, training)
            if not training:
                torch.testing.assert_close(got, expected, msg=lambda m: f"{experiment}: {m}")
