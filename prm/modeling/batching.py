"""Padding token-id rows into one batch: the one helper training, scoring and the adapters share.

Public: `pad_batch`.
"""

from __future__ import annotations

from typing import Sequence

import torch


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_token_id: int, padding_side: str, pad_to_multiple_of: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """input_ids, attention_mask: (batch, seq); and each row's offset of its first token.

    padding_side "left" puts the padding before each row's tokens, "right" after. The width is
    the longest row, rounded up to a multiple of pad_to_multiple_of where given. Pair with
    `prm.modeling.position_ids_from_mask` so that left padding does not shift positions.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    width = max(len(s) for s in sequences)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    offsets = []
    for row, ids in enumerate(sequences):
        start = width - len(ids) if padding_side == "left" else 0
        input_ids[row, start : start + len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[row, start : start + len(ids)] = 1
        offsets.append(start)
    return input_ids, attention_mask, offsets
