"""Word/character LSTM language model (Zaremba et al. 2014, "Recurrent Neural Network Regularization"; weight
tying from Press & Wolf 2017 and Inan et al. 2017; embedding dropout from Gal & Ghahramani 2016)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.nn import LSTM

State = tuple[Tensor, Tensor]


class LSTMLanguageModel(nn.Module):
    """``tokens (B, T) int64 -> logits (B, T, vocab_size)``, and the final ``(h, c)``, each ``(layers, B, H)``.

    Args:
        vocab_size: tokens in the vocabulary (the task fills it in from the data).
        embedding_size: width of the token embeddings.
        hidden_size: LSTM units per layer.
        num_layers: stacked LSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the softmax (Zaremba et al.).
        embedding_dropout: drop whole rows of the embedding matrix (a word is dropped everywhere in the batch).
        tie_weights: share the embedding matrix with the output layer (needs ``embedding_size == hidden_size``).
        init_range: initialise every parameter uniformly in ``±init_range``; ``None`` keeps torch's defaults.
        backend: ``lstmkit.nn.LSTM`` backend.
        lstm_options: further ``lstmkit.nn.LSTM`` options (``recurrent_dropout``, ``weight_drop``, ``zoneout_*``…).
    """

    def __init__(self, vocab_size: int, embedding_size: int = 200, hidden_size: int = 200, num_layers: int = 2,
                 dropout: float = 0.0, embedding_dropout: float = 0.0, tie_weights: bool = False,
                 init_range: float | None = 0.1, backend: str = "auto",
                 lstm_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        if tie_weights and embedding_size != hidden_size:
            raise ValueError(f"tie_weights: needs embedding_size == hidden_size, got {embedding_size}, {hidden_size}")
        if not 0 <= embedding_dropout < 1:
            raise ValueError(f"embedding_dropout: expected a rate in [0, 1), got {embedding_dropout}")
        self.embedding_dropout = embedding_dropout
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.lstm = LSTM(embedding_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0, backend=backend, **(lstm_options or {}))
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if init_range is not None:
            for parameter in self.parameters():
                nn.init.uniform_(parameter, -init_range, init_range)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    def embed(self, tokens: Tensor) -> Tensor:
        weight = self.embedding.weight
        if self.training and self.embedding_dropout > 0:
            keep = 1 - self.embedding_dropout
            weight = weight * weight.new_empty(weight.shape[0], 1).bernoulli_(keep) / keep
        return F.embedding(tokens, weight)

    def forward(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        output, state = self.lstm(self.dropout(self.embed(tokens)), state)
        return self.decoder(self.dropout(output)), state
