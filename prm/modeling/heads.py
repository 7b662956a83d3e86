"""Reward heads and the token positions they read.

Public: `ScalarHead`, `last_token_index`, `position_ids_from_mask`.

A head maps a hidden state to one logit (sigmoid gives the probability that the step, or the
solution, is correct). One logit rather than a 2-class head keeps the loss a plain binary
cross-entropy that takes soft targets (Monte Carlo values) as they are; public 2-class PRMs
load through `prm.modeling.adapters` instead.
"""

from __future__ import annotations

import torch
from torch import nn


class ScalarHead(nn.Module):
    """hidden: (..., hidden_size) -> logits: (...). Optional dropout before a Linear layer.

    The weights are drawn from their own generator seeded by `seed`, so building a head never
    touches (or depends on) the global torch random state.
    """

    def __init__(self, hidden_size: int, dropout: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be positive, got {hidden_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, 1)
        # Logits of unit scale on a normalised hidden state, centred at p = 0.5.
        generator = torch.Generator().manual_seed(seed)
        nn.init.normal_(self.linear.weight, std=1.0 / (hidden_size + 1) ** 0.5, generator=generator)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden.to(self.linear.weight.dtype)
        return self.linear(self.dropout(hidden)).squeeze(-1)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-padding token per row, for left and right padding alike.

    attention_mask: (batch, seq) of 0/1 -> (batch,) long. A row with no token gives 0.
    """
    seq_len = attention_mask.shape[-1]
    positions = torch.arange(seq_len, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, torch.zeros_like(positions)).amax(dim=-1)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only real tokens, so left padding does not shift positions.

    attention_mask: (batch, seq) of 0/1 -> (batch, seq) long; padding positions get 0.
    """
    mask = attention_mask.long()
    return ((mask.cumsum(dim=-1) - 1) * mask).clamp(min=0)
