"""Sampling the next token: temperature, top-k (Fan et al. 2018) and nucleus/top-p (Holtzman et al. 2020).

Written by hand (a dozen lines) rather than importing ``transformers`` for its logits processors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """``logits (..., V)`` with everything outside the ``top_k`` largest and outside the smallest set whose
    probability reaches ``top_p`` set to ``-inf`` (``top_k=0``, ``top_p=1``: no filtering)."""
    if top_k < 0 or not 0 < top_p <= 1:
        raise ValueError(f"top_k: expected >= 0, got {top_k}; top_p: expected in (0, 1], got {top_p}")
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        outside = cumulative - sorted_logits.softmax(-1) >= top_p  # the mass before a token already reaches top_p
        logits = logits.masked_fill(outside.scatter(-1, order, outside), float("-inf"))
    return logits


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                generator: torch.Generator | None = None) -> Tensor:
    """One token id per row of ``logits (B, V)`` -> ``(B,)``; ``temperature == 0`` takes the argmax."""
    if temperature < 0:
        raise ValueError(f"temperature: expected >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: torch.nn.Module, prompt: list[int], max_new_tokens: int, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, stop_id: int | None = None,
             generator: torch.Generator | None = None, banned: Sequence[int] = ()) -> list[int]:
    """Continue ``prompt`` (token ids, at least one) with a language model ``model(tokens (1, T), state) ->
    (logits (1, T, V), state)``; stops early after ``stop_id``; never emits an id in ``banned`` (e.g. the padding
    id, which a model trained on padded batches still gives a small probability). Returns the new ids only."""
    if not prompt:
        raise ValueError("prompt: expected at least one token id")
    device = next(model.parameters()).device
    logits, state = model(torch.tensor([prompt], device=device))
    vocab_size = logits.shape[-1]
    if any(not 0 <= i < vocab_size for i in banned) or len(set(banned)) >= vocab_size:
        raise ValueError(f"banned: expected distinct ids in [0, {vocab_size}) leaving at least one, got {list(banned)}")
    banned_ids = torch.tensor(sorted(set(banned)), dtype=torch.long, device=device)
    new: list[int] = []
    for _ in range(max_new_tokens):
        last = logits[:, -1].index_fill(-1, banned_ids, float("-inf")) if len(banned_ids) else logits[:, -1]
        token = sample_next(last, temperature, top_k, top_p, generator)
        new.append(int(token))
        if stop_id is not None and new[-1] == stop_id:
            break
        logits, state = model(token.view(1, 1), state)
    return new
