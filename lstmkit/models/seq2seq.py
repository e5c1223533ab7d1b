"""Attention encoder-decoder (Bahdanau et al. 2015) for short sequences such as grapheme-to-phoneme conversion:
a BiLSTM encoder, an LSTM-cell decoder with additive attention and input feeding (Luong et al. 2015: the last
context vector is part of the next input), teacher forcing in training, greedy and beam-search decoding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.models.attention import AdditiveAttention, lengths_mask
from lstmkit.nn import LSTM, LSTMCell

Encoded = tuple[Tensor, Tensor, Tensor]  # keys (B, S, 2H), mask (B, S), projected keys (B, S, A)
State = tuple[Tensor, Tensor, Tensor]  # h (B, H), c (B, H), context (B, 2H)


def _map(fn, tree):
    """``fn`` on every tensor of nested tuples/lists (the encoder outputs and decoder states of one or more models)."""
    return type(tree)(_map(fn, t) for t in tree) if isinstance(tree, (tuple, list)) else fn(tree)


class BeamSearch:
    """Greedy and beam-search decoding for any network with ``encode(source, lengths) -> (encoded, state)`` and
    ``decode_step(tokens, encoded, state) -> (logits or log-probabilities (B, V), state, attention (B, S))``, where
    ``encoded`` and ``state`` are (nested tuples of) tensors with the batch first; and ``bos_id``/``eos_id``."""

    bos_id: int
    eos_id: int

    @torch.no_grad()
    def beam_search(self, source: Tensor, lengths: Tensor, beam_size: int = 1,
                    max_length: int = 30) -> tuple[Tensor, Tensor]:
        """Highest log-probability output per source (no length normalisation): ids ``(B, L)`` without ``<bos>``,
        0 after ``<eos>``; and the attention of the best beam ``(B, L, S)``. ``beam_size=1`` is greedy decoding.
        ``<pad>`` (id 0) and ``<bos>`` are never output."""
        if beam_size < 1:
            raise ValueError(f"beam_size: expected >= 1, got {beam_size}")
        batch, k = source.shape[0], beam_size
        encoded, state = self.encode(source, lengths)
        encoded, state = (_map(lambda t: t.repeat_interleave(k, 0), tree) for tree in (encoded, state))
        scores = source.new_full((batch, k), float("-inf"), dtype=torch.float).index_fill_(1, torch.tensor([0]), 0.0)
        tokens = source.new_full((batch * k,), self.bos_id)
        finished = torch.zeros(batch, k, dtype=torch.bool, device=source.device)
        sequences = source.new_zeros(batch, k, 0)
        attention = source.new_zeros(batch, k, 0, source.shape[1], dtype=torch.float)
        never = torch.tensor([0, self.bos_id], device=source.device)  # <pad> and <bos> are never outputs
        for _ in range(max_length):
            logits, state, weights = self.decode_step(tokens, encoded, state)
            log_probs = logits.log_softmax(-1).index_fill(-1, never, float("-inf")).view(batch, k, -1)
            # a finished beam continues with <eos> at no cost, so it keeps its score and competes unchanged
            done_row = torch.full_like(log_probs[0, 0], float("-inf")).index_fill_(0, torch.tensor([self.eos_id]), 0.0)
            log_probs = torch.where(finished[..., None], done_row, log_probs)
            total = (scores[..., None] + log_probs).view(batch, -1)
            scores, flat = total.topk(k, dim=-1)
            beam, token = flat // log_probs.shape[-1], flat % log_probs.shape[-1]
            rows = (torch.arange(batch, device=source.device)[:, None] * k + beam).view(-1)
            state = _map(lambda t, rows=rows: t[rows], state)
            sequences = torch.cat([sequences.gather(1, beam[..., None].expand(-1, -1, sequences.shape[2])),
                                   token[..., None]], -1)
            chosen = (torch.arange(batch)[:, None], beam)
            attention = torch.cat([attention[chosen], weights.view(batch, k, 1, -1).to(attention.dtype)[chosen]], 2)
            finished = finished.gather(1, beam) | (token == self.eos_id)
            tokens = token.view(-1)
            if finished.all():
                break
        best = scores.argmax(-1)
        ids = sequences[torch.arange(batch), best]
        after_eos = (ids == self.eos_id).long().cumsum(-1) > 0
        return ids.masked_fill(after_eos, 0), attention[torch.arange(batch), best]


class AttentionSeq2Seq(BeamSearch, nn.Module):
    """``source (B, S) int64, source_lengths (B,), target_in (B, L) -> logits (B, L, target_vocab_size)``.

    Token ids: 0 ``<pad>``; ``bos_id``/``eos_id`` start and end every target sequence.

    Args:
        source_vocab_size, target_vocab_size: from the data.
        embedding_size, hidden_size: embedding width; LSTM units (per direction in the encoder, and the decoder's).
        encoder_layers: stacked BiLSTM layers.
        attention_size: width of the additive attention's scoring layer.
        dropout: on embeddings and before the output layer.
        bos_id, eos_id: ids of ``<bos>`` and ``<eos>`` in the target vocabulary.
        backend: ``lstmkit.nn.LSTM`` backend of the encoder and the decoder cell.
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, embedding_size: int = 64,
                 hidden_size: int = 128, encoder_layers: int = 2, attention_size: int = 128, dropout: float = 0.2,
                 bos_id: int = 3, eos_id: int = 2, backend: str = "auto") -> None:
        super().__init__()
        self.bos_id, self.eos_id = bos_id, eos_id
        self.source_embedding = nn.Embedding(source_vocab_size, embedding_size, padding_idx=0)
        self.target_embedding = nn.Embedding(target_vocab_size, embedding_size, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.encoder = LSTM(embedding_size, hidden_size, num_layers=encoder_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if encoder_layers > 1 else 0.0, backend=backend)
        self.bridge = nn.Linear(2 * hidden_size, 2 * hidden_size)  # final encoder states -> decoder (h0, c0)
        self.attention = AdditiveAttention(2 * hidden_size, hidden_size, attention_size)
        self.decoder = LSTMCell(embedding_size + 2 * hidden_size, hidden_size, backend=backend)
        self.output = nn.Linear(hidden_size + 2 * hidden_size, target_vocab_size)

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Encoded, State]:
        keys, (h_n, _) = self.encoder(self.dropout(self.source_embedding(source)), lengths=lengths)
        h0, c0 = torch.tanh(self.bridge(torch.cat([h_n[-2], h_n[-1]], -1))).chunk(2, -1)
        mask = lengths_mask(lengths, source.shape[1])
        return (keys, mask, self.attention.project_keys(keys)), (h0, c0, keys.new_zeros(keys.shape[0], keys.shape[2]))

    def decode_step(self, tokens: Tensor, encoded: Encoded, state: State) -> tuple[Tensor, State, Tensor]:
        """One step: ``tokens (B,)`` -> logits ``(B, V)``, the next state and the attention weights ``(B, S)``."""
        keys, mask, projected = encoded
        h, c, context = state
        h, c = self.decoder(torch.cat([self.dropout(self.target_embedding(tokens)), context], -1), (h, c))
        context, weights = self.attention(keys, mask, query=h, projected_keys=projected)
        return self.output(self.dropout(torch.cat([h, context], -1))), (h, c, context), weights

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing (``target_in`` starts with ``<bos>``): logits ``(B, L, V)``, attention ``(B, L, S)``."""
        encoded, state = self.encode(source, lengths)
        logits, attention = [], []
        for t in range(target_in.shape[1]):
            step_logits, state, weights = self.decode_step(target_in[:, t], encoded, state)
            logits.append(step_logits)
            attention.append(weights)
        return torch.stack(logits, 1), torch.stack(attention, 1)


class EnsembleSeq2Seq(BeamSearch, nn.Module):
    """Several trained seq2seq networks decoding as one: each step's output distribution is the normalised
    geometric mean of theirs (the mean of their log-probabilities, renormalised), so the beam search ranks
    sequences by the members' average log-probability. Attention weights shown are the first member's.

    Args:
        members: networks with the same target vocabulary and ``bos_id``/``eos_id`` (e.g. two training runs).
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 1:
            raise ValueError("members: expected at least one network")
        ids = {(m.bos_id, m.eos_id, m.output.out_features) for m in members}
        if len(ids) != 1:
            raise ValueError(f"members: expected the same bos_id, eos_id and target vocabulary size, got {sorted(ids)}")
        self.members = nn.ModuleList(members)
        self.bos_id, self.eos_id = members[0].bos_id, members[0].eos_id

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[tuple, tuple]:
        encoded, states = zip(*(m.encode(source, lengths) for m in self.members))
        return tuple(encoded), tuple(states)

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing: the members' mean log-probabilities, renormalised ``(B, L, V)``; the first's attention."""
        outputs = [m(source, lengths, target_in) for m in self.members]
        return _mean_log_probs([logits for logits, _ in outputs]), outputs[0][1]

    def decode_step(self, tokens: Tensor, encoded: tuple, state: tuple) -> tuple[Tensor, tuple, Tensor]:
        steps = [m.decode_step(tokens, e, s) for m, e, s in zip(self.members, encoded, state)]
        return _mean_log_probs([logits for logits, _, _ in steps]), tuple(s for _, s, _ in steps), steps[0][2]


def _mean_log_probs(logits: list[Tensor]) -> Tensor:
    """The members' mean log-probabilities, renormalised: the log of their normalised geometric mean."""
    return torch.stack([one.log_softmax(-1) for one in logits]).mean(0).log_softmax(-1)
