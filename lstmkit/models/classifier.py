"""BiLSTM sequence classifier with attention pooling (Yang et al. 2016; Zhou et al. 2016, "Attention-Based
Bidirectional LSTM Networks for Relation Classification")."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from lstmkit.models.attention import AdditiveAttention, lengths_mask
from lstmkit.nn import LSTM


def embedded_bilstm(vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int, dropout: float,
                    backend: str, lstm_options: dict[str, Any] | None) -> tuple[nn.Embedding, nn.Dropout, LSTM]:
    """The word encoder of the classifier and the tagger: embeddings (0 = padding), a dropout used on them, between
    layers and before the head, and a batch-first BiLSTM."""
    return (nn.Embedding(vocab_size, embedding_size, padding_idx=0), nn.Dropout(dropout),
            LSTM(embedding_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True,
                 dropout=dropout if num_layers > 1 else 0.0, backend=backend, **(lstm_options or {})))


class BiLSTMClassifier(nn.Module):
    """``tokens (B, T) int64, lengths (B,) -> logits (B, num_classes), attention weights (B, T)``.

    The BiLSTM runs with ``lengths``, so padding never enters the recurrence (the reverse direction starts at
    each sequence's own last token), and the attention gives padded positions zero weight.

    Args:
        vocab_size: tokens in the vocabulary (from the data); ``padding_idx`` is id 0 (``<pad>``).
        num_classes: output classes.
        embedding_size, hidden_size, num_layers: embedding width, LSTM units per direction, stacked layers.
        attention_size: width of the additive attention's scoring layer.
        dropout: on the embeddings, between layers and before the head.
        backend: ``lstmkit.nn.LSTM`` backend.
        lstm_options: further ``lstmkit.nn.LSTM`` options.
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, embedding_size: int = 100, hidden_size: int = 64,
                 num_layers: int = 1, attention_size: int = 64, dropout: float = 0.3, backend: str = "auto",
                 lstm_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.embedding, self.dropout, self.lstm = embedded_bilstm(vocab_size, embedding_size, hidden_size,
                                                                   num_layers, dropout, backend, lstm_options)
        self.attention = AdditiveAttention(2 * hidden_size, 0, attention_size)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        output, _ = self.lstm(self.dropout(self.embedding(tokens)), lengths=lengths)  # (B, T, 2H)
        pooled, weights = self.attention(output, lengths_mask(lengths, tokens.shape[1]))
        return self.head(self.dropout(pooled)), weights
