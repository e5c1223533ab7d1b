"""Language modelling with truncated BPTT: the LSTM state is carried (detached) from one batch to the next.

Batches come from :class:`lstmkit.data.language_modeling.LanguageModelDataModule`, in stream order. Each stage
(train, val, test) keeps its own state; it starts from zeros at the start of every epoch, and the training state
is saved in checkpoints, so a run resumed mid-epoch carries on with the same state.
Metrics: ``perplexity`` (word level) or ``bpc``, bits per character (character level), both over all tokens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import Perplexity

from lstmkit.data.vocab import BOS, EOS, PAD, Tokenizer, Vocabulary
from lstmkit.models.sampling import generate
from lstmkit.tasks.vocabulary import VocabularySizedTask

LN2 = 0.6931471805599453


class BitsPerCharacter(Perplexity):
    """``log2(perplexity)``: the mean negative log2-likelihood per token."""

    def compute(self) -> Tensor:
        return torch.log2(super().compute())


class LanguageModelTask(VocabularySizedTask):
    """Args:
        level: ``"word"`` (metric ``perplexity``) or ``"char"`` (metric ``bpc``); also how samples are joined.
        best_metric: ``"val/perplexity"`` (word) or ``"val/bpc"`` (char).
        sample_prompts: prompts (text) continued in the samples logged to TensorBoard (``<stage>/samples``).
        sample_tokens: tokens generated per sample.
        sample_temperature, sample_top_k, sample_top_p: sampling settings of the logged samples.
        **task_args: see :class:`~lstmkit.tasks.vocabulary.VocabularySizedTask` (``net``, ``optimizer``,
            ``scheduler``, …).
    """

    sizes = {"vocab_size": "tokens"}

    def __init__(self, *, level: str = "word", best_metric: str = "val/perplexity",
                 sample_prompts: tuple[str, ...] = ("the",), sample_tokens: int = 40,
                 sample_temperature: float = 0.8, sample_top_k: int = 0, sample_top_p: float = 0.95,
                 **task_args: Any) -> None:
        super().__init__(best_metric=best_metric, **task_args)
        self.tokenizer = Tokenizer(level)
        self._states: dict[str, tuple[Tensor, Tensor] | None] = {}

    @staticmethod
    def metric_name(level: str) -> str:
        return "perplexity" if level == "word" else "bpc"

    def make_metrics(self) -> MetricCollection:
        level = self.hparams.level
        metric = Perplexity() if level == "word" else BitsPerCharacter()
        return MetricCollection({self.metric_name(level): metric})

    def _stage(self) -> str:
        if self.training:
            return "train"
        return "test" if self.trainer.testing else "val"

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch  # (B, T) each
        stage = self._stage()
        state = self._states.get(stage)
        if state is not None and state[0].shape[1] != x.shape[0]:
            state = None
        logits, state = self.net(x, state)
        self._states[stage] = (state[0].detach(), state[1].detach())  # truncated BPTT: no gradient across batches
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return loss, logits, y

    def on_train_epoch_start(self) -> None:
        if not getattr(self, "_resumed_state", False):
            self._states["train"] = None
        self._resumed_state = False

    def on_validation_epoch_start(self) -> None:
        self._states["val"] = None

    def on_test_epoch_start(self) -> None:
        self._states["test"] = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if 0 < done < self.trainer.num_training_batches:  # mid-epoch: the resumed epoch continues this state
            checkpoint["carried_state"] = self._states.get("train")

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self._states["train"] = checkpoint.get("carried_state")
        self._resumed_state = self._states["train"] is not None

    # ---- generation -------------------------------------------------------------------------------------
    def sample(self, prompt: str, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, generator: torch.Generator | None = None) -> str:
        """Continue the text ``prompt`` (unknown words become ``<unk>``); returns the prompt and its continuation."""
        vocab = self.vocabulary
        tokens = self.tokenizer.split(prompt) or [EOS]
        was_training = self.net.training
        self.net.eval()
        never = [vocab.index[t] for t in (PAD, BOS) if t in vocab]  # never a training target, not text
        new = generate(self.net, vocab.encode(tokens), max_new_tokens, temperature, top_k, top_p,
                       generator=generator, banned=never)
        self.net.train(was_training)
        return self.tokenizer.join([*tokens, *vocab.decode(new)])

    @property
    def vocabulary(self) -> Vocabulary:
        if self.hparams.vocabs is None:
            raise RuntimeError("the model has no vocabulary yet: train it or load it from a checkpoint")
        return Vocabulary(self.hparams.vocabs["tokens"])

    def log_media(self, stage: str) -> None:
        generator = torch.Generator().manual_seed(self.current_epoch)
        h = self.hparams
        samples = [self.sample(prompt, h.sample_tokens, h.sample_temperature, h.sample_top_k, h.sample_top_p,
                               generator) for prompt in h.sample_prompts]
        self.log_text(f"{stage}/samples", "\n\n".join(f"    {s}".replace("\n", "\n    ") for s in samples))
