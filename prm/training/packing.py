"""Padding-free packed training batches for the reward model.

Public: `PACKING_MODES`, `PACKED_SDPA`, `MODEL_KEYS`, `supervised_length`,
`first_fit_decreasing`, `PackedCollator`, `choose_attention`, `resolve_packing`,
`packed_attention`.

A packed batch holds the same solutions as a padded one, laid end to end: the position ids
restart at 0 for every solution and attention stays inside each solution, so every step and
outcome logit is the one the padded path gives (tests/test_training_packing.py checks loss and
gradients). Less work is done in three ways: no padding tokens; tokens after a solution's last
supervised tag are dropped (causal attention means no supervised position reads them; a
solution whose outcome the objective supervises keeps its last token, where the outcome head
reads); and attention costs each solution's own length squared, never the row's.

Attention inside each solution: on a GPU with flash-attn installed and half-precision training,
transformers' `flash_attention_2` in its varlen form (position ids and `cu_seq_lens_*`, as
`transformers.DataCollatorWithFlattening` gives them); everywhere else `PACKED_SDPA`, torch's
scaled-dot-product attention applied block by block to the block-diagonal causal mask (one
causal call per solution; a dense (tokens x tokens) block mask was measured slower than the
padded path on near-uniform rows, see BENCHMARKS.md). `choose_attention` picks between them.

Rows: `first_fit_decreasing` bins solutions into rows of at most `max_tokens_per_row` tokens
(None, the default: one row for the whole batch, which costs nothing extra with either
attention since attention never crosses a solution); the Trainer's length-grouped sampler
still decides which solutions share a batch.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from prm.training.collate import IGNORE

PACKING_MODES = ("auto", "on", "off")
PACKED_SDPA = "prm_packed_sdpa"
FLASH = "flash_attention_2"
# Batch keys the reward model's forward takes (padded or packed); the rest are labels.
MODEL_KEYS = (
    "input_ids", "attention_mask", "position_ids", "outcome_positions", "inputs_embeds",
    "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k",
)


def supervised_length(feature: Mapping[str, Any], keep_outcome: bool) -> int:
    """Tokens of an `encode_solution` row that training needs: up to its last supervised tag,
    or the whole row when `keep_outcome` and the row has an outcome label (read at its last
    token). At least one token."""
    length = len(feature["input_ids"])
    if keep_outcome and feature["outcome_label"] != IGNORE:
        return length
    supervised = [p for p, v in zip(feature["label_positions"], feature["step_labels"]) if v != IGNORE]
    return max(supervised) + 1 if supervised else 1


def first_fit_decreasing(lengths: Sequence[int], budget: int | None) -> list[list[int]]:
    """Indices of `lengths` grouped into bins of at most `budget` tokens, longest first, each
    into the first bin it fits (an item longer than the budget gets a bin of its own).
    budget None: one bin holding everything."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    if budget is None:
        return [order] if order else []
    if budget < 1:
        raise ValueError(f"the packing token budget must be >= 1 or None, got {budget!r}")
    bins: list[list[int]] = []
    room: list[int] = []
    for index in order:
        for b, left in enumerate(room):
            if lengths[index] <= left:
                bins[b].append(index)
                room[b] -= lengths[index]
                break
        else:
            bins.append([index])
            room.append(budget - lengths[index])
    return bins


@dataclass(frozen=True)
class PackedCollator:
    """Packs rows from `encode_solution` or `encode_pair` into padding-free rows.

    Solution rows give: input_ids, position_ids, step_labels (rows, width), IGNORE off the tag
    positions; outcome_labels (n,), outcome_positions (n, 2) long: each solution's (row, index)
    of its last kept token, in the order of the features; cu_seq_lens_q/k (segments + 1,) int32:
    segment bounds over the flattened (rows * width) tokens (a row's padding tail, when rows
    differ in length, is a segment of its own); max_length_q/k (int). Pair rows (P) give the
    same without labels, with 2P outcome positions: the P chosen sides, then the P rejected.
    keep_outcome: the objective reads the outcome head (see `supervised_length`).
    max_tokens_per_row: see `first_fit_decreasing` (None: one row).
    """

    pad_token_id: int
    keep_outcome: bool = True
    max_tokens_per_row: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pad_token_id, int):
            raise ValueError(f"PackedCollator.pad_token_id must be an int, got {self.pad_token_id!r}")
        if self.max_tokens_per_row is not None and self.max_tokens_per_row < 1:
            raise ValueError(f"PackedCollator.max_tokens_per_row must be >= 1 or None, got {self.max_tokens_per_row!r}")

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, keep_outcome: bool = True,
                      max_tokens_per_row: int | None = None) -> "PackedCollator":
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return cls(pad, keep_outcome, max_tokens_per_row)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        pairs = "chosen_input_ids" in features[0]
        if pairs:
            sequences = [f["chosen_input_ids"] for f in features] + [f["rejected_input_ids"] for f in features]
            lengths = [len(s) for s in sequences]
        else:
            sequences = [f["input_ids"] for f in features]
            lengths = [supervised_length(f, self.keep_outcome) for f in features]
        bins = first_fit_decreasing(lengths, self.max_tokens_per_row)
        width = max(sum(lengths[i] for i in group) for group in bins)
        input_ids = torch.full((len(bins), width), self.pad_token_id, dtype=torch.long)
        position_ids = torch.zeros((len(bins), width), dtype=torch.long)
        step_labels = torch.full((len(bins), width), IGNORE, dtype=torch.float32)
        outcome_positions = torch.zeros((len(sequences), 2), dtype=torch.long)
        bounds = [0]
        for row, group in enumerate(bins):
            start = 0
            for index in group:
                length = lengths[index]
                input_ids[row, start : start + length] = torch.tensor(list(sequences[index][:length]), dtype=torch.long)
                position_ids[row, start : start + length] = torch.arange(length)
                if not pairs:
                    kept = [(p, v) for p, v in zip(features[index]["label_positions"], features[index]["step_labels"]) if p < length]
                    if kept:
                        positions, values = zip(*kept)
                        step_labels[row, torch.tensor(positions) + start] = torch.tensor(values, dtype=torch.float32)
                outcome_positions[index] = torch.tensor([row, start + length - 1])
                start += length
                bounds.append(row * width + start)
            if start < width:  # the padding tail attends only to itself
                position_ids[row, start:] = torch.arange(width - start)
                bounds.append((row + 1) * width)
        cu_seq_lens = torch.tensor(bounds, dtype=torch.int32)
        longest = int((cu_seq_lens[1:] - cu_seq_lens[:-1]).max())
        batch: dict[str, Any] = {
            "input_ids": input_ids,
            "position_ids": position_ids,
            "outcome_positions": outcome_positions,
            "cu_seq_lens_q": cu_seq_lens,
            "cu_seq_lens_k": cu_seq_lens,
            "max_length_q": longest,
            "max_length_k": longest,
        }
        if not pairs:
            batch["step_labels"] = step_labels
            batch["outcome_labels"] = torch.tensor([float(f["outcome_label"]) for f in features], dtype=torch.float32)
        return batch


def _packed_sdpa(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention inside each packed segment (a transformers attention function).

    query: (batch, heads, seq, head_dim); key, value: (batch, kv_heads, seq, head_dim);
    cu_seq_lens_q: segment bounds over the flattened batch * seq tokens (else read from
    position_ids restarting at 0, where there is no attention_mask). Returns (batch, seq, heads,
    head_dim), as transformers' own sdpa does. A padded batch (an attention_mask, as scoring
    during training gives) goes to transformers' sdpa unchanged.
    """
    batch, heads, seq, head_dim = query.shape
    if cu_seq_lens_q is None and attention_mask is None and kwargs.get("position_ids") is not None:
        cu_seq_lens_q = _segment_bounds(kwargs["position_ids"].expand(batch, seq))
    if cu_seq_lens_q is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)

    def flat(states: torch.Tensor) -> torch.Tensor:  # (batch, h, seq, d) -> (1, h, batch * seq, d)
        return states.transpose(0, 1).reshape(1, states.shape[1], batch * seq, head_dim)

    q, k, v = (flat(s) if batch > 1 else s for s in (query, key, value))
    bounds = cu_seq_lens_q.tolist()
    window = kwargs.get("sliding_window")
    if window is not None and max(b - a for a, b in zip(bounds[:-1], bounds[1:])) > window:
        raise ValueError(f"attention {PACKED_SDPA!r} has no sliding window ({window} tokens); "
                         "train this backbone with packing 'off'")
    gqa = q.shape[1] != k.shape[1]
    parts = [
        F.scaled_dot_product_attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b], dropout_p=dropout,
                                       is_causal=True, scale=scaling, enable_gqa=gqa)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    out = torch.cat(parts, dim=2)  # (1, heads, batch * seq, head_dim)
    return out.reshape(heads, batch, seq, head_dim).permute(1, 2, 0, 3).contiguous(), None


def _segment_bounds(position_ids: torch.Tensor) -> torch.Tensor:
    """(batch, seq) position ids -> bounds over the flattened tokens of the runs that count up
    by one (a new segment wherever they do not, and at every row's start)."""
    flat = position_ids.reshape(-1)
    index = torch.arange(flat.numel(), device=flat.device)
    starts = (index % position_ids.shape[-1] == 0) | (flat != torch.cat([flat[:1] - 1, flat[:-1]]) + 1)
    return torch.cat([index[starts], index.new_tensor([flat.numel()])]).to(torch.int32)


def _packed_mask(*args: Any, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor | None:
    """The mask `PACKED_SDPA` is handed: none for packed or unpadded rows (it keeps attention
    inside each segment itself), transformers' sdpa mask for a padded batch."""
    if attention_mask is None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def _base(backbone: nn.Module) -> nn.Module:
    get_base = getattr(backbone, "get_base_model", None)  # peft wraps the backbone
    return get_base() if callable(get_base) else backbone


def _supports_attention_interface(backbone: nn.Module) -> bool:
    base = _base(backbone)
    can_set = getattr(base, "_can_set_attn_implementation", None)
    return callable(can_set) and bool(can_set()) and hasattr(base, "set_attn_implementation")


def choose_attention(device_type: str, half_precision: bool) -> str:
    """flash-attention varlen on a CUDA device with flash-attn installed and bf16/fp16
    training (flash-attn has no float32 kernel); `PACKED_SDPA` everywhere else."""
    if device_type == "cuda" and half_precision and importlib.util.find_spec("flash_attn") is not None:
        return FLASH
    return PACKED_SDPA


def resolve_packing(mode: str, backbone: nn.Module) -> bool:
    """Whether to pack: "on" (raises where the backbone cannot take a packed attention), "off",
    or "auto": on wherever the backbone can (measured faster than padding at every length
    tried, see BENCHMARKS.md), off for backbones outside transformers' attention interface."""
    if mode not in PACKING_MODES:
        raise ValueError(f"packing is {mode!r}; allowed: {', '.join(PACKING_MODES)}")
    if mode == "off":
        return False
    supported = _supports_attention_interface(backbone)
    if mode == "on" and not supported:
        raise ValueError(
            f"packing 'on': {type(_base(backbone)).__name__} does not take transformers' attention "
            "interface (set_attn_implementation), so attention cannot be kept inside each solution; "
            "use packing 'off' or 'auto'"
        )
    return supported


@contextlib.contextmanager
def packed_attention(backbone: nn.Module, implementation: str | None) -> Iterator[str | None]:
    """Run the backbone with `implementation` (`PACKED_SDPA` or flash-attention) and put its
    own attention back afterwards, so the trained model scores padded batches as before.
    None: the backbone's own attention (padded training). Registers `PACKED_SDPA` with
    transformers' AttentionInterface (and its mask with AttentionMaskInterface) the first time
    it is used. Padded forwards inside (ProcessBench scoring during training) still work."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    if implementation is None:
        yield None
        return
    base = _base(backbone)
    if implementation == PACKED_SDPA and PACKED_SDPA not in AttentionInterface._global_mapping:
        AttentionInterface.register(PACKED_SDPA, _packed_sdpa)
        AttentionMaskInterface.register(PACKED_SDPA, _packed_mask)
    before = base.config._attn_implementation
    base.set_attn_implementation(implementation)
    try:
        yield implementation
    finally:
        base.set_attn_implementation(before)


def training_collator(mode: str, backbone: nn.Module, tokenizer: Any, reads_outcome: bool,
                      device_type: str, half_precision: bool) -> tuple[Any, str | None]:
    """(collator, attention) for a training run: a `PackedCollator` and the attention it needs
    (`choose_attention`) where `resolve_packing(mode, backbone)` packs, else the padded
    `RewardCollator` and None. Train inside `packed_attention(backbone, attention)`."""
    from prm.training.collate import RewardCollator

    if not resolve_packing(mode, backbone):
        return RewardCollator.for_tokenizer(tokenizer), None
    return PackedCollator.for_tokenizer(tokenizer, keep_outcome=reads_outcome), choose_attention(device_type, half_precision)
