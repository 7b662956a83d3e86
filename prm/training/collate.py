"""Training rows and batches: label alignment on token ids, dynamic padding.

Public: `IGNORE`, `outcome_label`, `encode_solution`, `encode_pair`, `RewardCollator`.

`encode_solution` turns a `StepwiseSolution` into one row through `StepFormat.encode` (prompt
ids, then each step's ids with the tag's ids appended; a label at the last tag token; whole
trailing steps dropped to fit `max_length`). `encode_pair` does the same for both sides of a
Bradley-Terry pair. `RewardCollator` pads a list of rows to the longest one (left or right, as
the tokenizer pads) and spreads the step labels over a (batch, seq) tensor that holds `IGNORE`
everywhere but at tag positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from prm.modeling.batching import pad_batch
from prm.records import StepwiseSolution
from prm.steps import StepFormat

IGNORE = -100.0
# Meta keys a reader may use for a solution's final-answer correctness, in order of trust.
_OUTCOME_KEYS = ("outcome", "correct", "final_answer_correct", "is_correct")


def outcome_label(solution: StepwiseSolution) -> float | None:
    """A solution's outcome target in [0, 1], or None when nothing says.

    An explicit meta field (`outcome`, `correct`, `final_answer_correct`, `is_correct`) wins;
    otherwise the lowest step label (a solution with one bad step counts as wrong; with soft
    labels, the weakest Monte Carlo value); an unlabelled solution has none.
    """
    for key in _OUTCOME_KEYS:
        value = solution.meta.get(key)
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0:
            return float(value)
    known = [v for v in solution.labels or () if v is not None]
    return min(known) if known else None


def encode_solution(
    solution: StepwiseSolution,
    tokenizer: Any,
    step_format: StepFormat,
    max_length: int | None = None,
    tag_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """One training row.

    Keys: input_ids (list[int]); label_positions (list[int], one per kept step); step_labels
    (list[float], IGNORE where a step is unsupervised); outcome_label (float, IGNORE when
    unknown or when truncation cut the solution short, since the outcome head would read a
    partial solution); length; dropped_steps.
    """
    encoded = step_format.encode(
        tokenizer, solution.prompt, solution.steps, solution.labels, max_length, tag_ids
    )
    outcome = outcome_label(solution) if encoded.dropped_steps == 0 else None
    return {
        "input_ids": list(encoded.input_ids),
        "label_positions": list(encoded.label_positions),
        "step_labels": [IGNORE if v is None else float(v) for v in encoded.labels],
        "outcome_label": IGNORE if outcome is None else float(outcome),
        "length": len(encoded.input_ids),
        "dropped_steps": encoded.dropped_steps,
    }


def encode_pair(
    prompt: str,
    chosen: Sequence[str],
    rejected: Sequence[str],
    tokenizer: Any,
    step_format: StepFormat,
    max_length: int | None = None,
    tag_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """One Bradley-Terry row: chosen_input_ids, rejected_input_ids, length (the longer side),
    dropped_steps (both sides together; a caller drops pairs that lost steps)."""
    sides = {}
    dropped = 0
    for name, steps in (("chosen", chosen), ("rejected", rejected)):
        encoded = step_format.encode(tokenizer, prompt, steps, None, max_length, tag_ids)
        sides[f"{name}_input_ids"] = list(encoded.input_ids)
        dropped += encoded.dropped_steps
    return {
        **sides,
        "length": max(len(sides["chosen_input_ids"]), len(sides["rejected_input_ids"])),
        "dropped_steps": dropped,
    }


@dataclass(frozen=True)
class RewardCollator:
    """Pads rows from `encode_solution` or `encode_pair` into a batch.

    Solution rows give: input_ids, attention_mask (batch, seq); step_labels (batch, seq) float,
    IGNORE off the tag positions; outcome_labels (batch,) float, IGNORE where unknown.
    Pair rows (P of them) give input_ids, attention_mask (2P, seq): the P chosen sides first,
    then the P rejected sides in the same order.
    pad_token_id: the tokenizer's pad id. padding_side: "right" or "left".
    pad_to_multiple_of: round the padded length up (tensor cores like multiples of 8).
    """

    pad_token_id: int
    padding_side: str = "right"
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"RewardCollator.padding_side must be 'left' or 'right', got {self.padding_side!r}")
        if not isinstance(self.pad_token_id, int):
            raise ValueError(
                f"RewardCollator.pad_token_id must be an int, got {self.pad_token_id!r} "
                "(set tokenizer.pad_token, e.g. to its eos token)"
            )

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, pad_to_multiple_of: int | None = None) -> "RewardCollator":
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return cls(pad, getattr(tokenizer, "padding_side", "right"), pad_to_multiple_of)

    def pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """input_ids, attention_mask: (batch, seq); and each row's offset of its first token."""
        return pad_batch(sequences, self.pad_token_id, self.padding_side, self.pad_to_multiple_of)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        if "chosen_input_ids" in features[0]:
            sequences = [f["chosen_input_ids"] for f in features] + [f["rejected_input_ids"] for f in features]
            input_ids, attention_mask, _ = self.pad(sequences)
            return {"input_ids": input_ids, "attention_mask": attention_mask}
        input_ids, attention_mask, offsets = self.pad([f["input_ids"] for f in features])
        step_labels = torch.full(input_ids.shape, IGNORE, dtype=torch.float32)
        for row, (feature, start) in enumerate(zip(features, offsets)):
            positions = torch.tensor(feature["label_positions"], dtype=torch.long) + start
            step_labels[row, positions] = torch.tensor(feature["step_labels"], dtype=torch.float32)
        outcome_labels = torch.tensor([float(f["outcome_label"]) for f in features], dtype=torch.float32)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "step_labels": step_labels,
            "outcome_labels": outcome_labels,
        }
