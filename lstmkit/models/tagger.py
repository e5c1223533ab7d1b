"""BiLSTM token tagger (Huang, Xu & Yu 2015, "Bidirectional LSTM-CRF Models for Sequence Tagging", without
the CRF): one softmax over the tags per token."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from lstmkit.models.classifier import embedded_bilstm


class BiLSTMTagger(nn.Module):
    """``tokens (B, T) int64, lengths (B,) -> logits (B, T, num_tags)`` (rows past a length are padding).

    Args:
        vocab_size, num_tags: from the data.
        embedding_size, hidden_size, num_layers: embedding width, LSTM units per direction, stacked layers.
        dropout: on the embeddings, between layers and before the output layer.
        backend: ``lstmkit.nn.LSTM`` backend; ``lstm_options``: further ``lstmkit.nn.LSTM`` options.
    """

    def __init__(self, vocab_size: int, num_tags: int, embedding_size: int = 100, hidden_size: int = 128,
                 num_layers: int = 2, dropout: float = 0.3, backend: str = "auto",
                 lstm_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.embedding, self.dropout, self.lstm = embedded_bilstm(vocab_size, embedding_size, hidden_size,
                                                                   num_layers, dropout, backend, lstm_options)
        self.head = nn.Linear(2 * hidden_size, num_tags)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        output, _ = self.lstm(self.dropout(self.embedding(tokens)), lengths=lengths)
        return self.head(self.dropout(output))
