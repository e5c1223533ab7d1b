"""Additive attention (Bahdanau et al. 2015, "Neural Machine Translation by Jointly Learning to Align and
Translate"): ``score_t = vᵀ tanh(W_k k_t + W_q q)``, a softmax over the valid positions only.

Without a query it is the attention pooling of Yang et al. 2016 ("Hierarchical Attention Networks"): a learned
context vector takes the query's place (``v`` plays that role), giving a weighted mean of the keys.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def lengths_mask(lengths: Tensor, max_length: int) -> Tensor:
    """``(B, max_length)`` bool, true at the first ``lengths[b]`` positions of row ``b``."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


class AdditiveAttention(nn.Module):
    """``keys (B, T, key_size)``, optional ``query (B, query_size)``, ``mask (B, T)`` bool (true = valid) ->
    ``context (B, key_size)`` and ``weights (B, T)`` (zero at masked positions, rows sum to 1).

    Args:
        key_size: features per key (e.g. 2 x hidden for a BiLSTM).
        query_size: features of the query (the decoder state); 0 for attention pooling without a query.
        attention_size: width of the hidden scoring layer.
    """

    def __init__(self, key_size: int, query_size: int = 0, attention_size: int = 64) -> None:
        super().__init__()
        self.key_layer = nn.Linear(key_size, attention_size)
        self.query_layer = nn.Linear(query_size, attention_size, bias=False) if query_size else None
        self.score = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """``W_k keys + b``, reusable across decoder steps: ``(B, T, attention_size)``."""
        return self.key_layer(keys)

    def forward(self, keys: Tensor, mask: Tensor, query: Tensor | None = None,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        hidden = self.project_keys(keys) if projected_keys is None else projected_keys
        if self.query_layer is not None:
            if query is None:
                raise ValueError("query: this attention has query_size > 0 and needs a query (B, query_size)")
            hidden = hidden + self.query_layer(query)[:, None, :]
        scores = self.score(torch.tanh(hidden)).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, T)
        weights = scores.softmax(-1)
        return torch.bmm(weights[:, None, :], keys).squeeze(1), weights
