"""Scoring solutions with a reward model: one forward pass per solution, batched.

Public: `OVERFLOW`, `SolutionScore`, `RewardRunner`, `PRMScorer`; `pad_batch` (from
`prm.modeling.batching`).

`RewardRunner.run` tokenizes (prompt, steps) pairs with the model's `StepFormat`, sorts them by
length, pads each batch dynamically, and reads every step's probability (sigmoid of the step
logit at its tag) and the outcome probability from the same forward pass, so a solution with k
steps costs one row, never k prefix forwards. `PRMScorer` is the `StepScorer` (and
`OutcomeScorer`) that search uses; `orm.scoring.ORMScorer` reads the outcome head only.
`PRMScorer` is also a `prm.scores.ExtendingStepScorer`: `start`/`extend` keep each prefix's KV
cache so that a prefix grown by a step reads only that step (`prm.prefix_states`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from prm.modeling.batching import pad_batch
from prm.modeling.reward_model import RewardModel, load_reward_model
from prm.prefix_states import PrefixExtender, PrefixState
from prm.records import StepwiseSolution
from prm.scores import AGGREGATIONS, Extension, aggregate
from prm.steps import EncodedSolution

OVERFLOW = ("error", "repeat_last")


@dataclass(frozen=True)
class SolutionScore:
    """step_scores: one probability per step; score: their aggregate under `aggregation`;
    outcome_score: the outcome head's probability (None where that head was not trained)."""

    step_scores: tuple[float, ...]
    score: float
    aggregation: str
    outcome_score: float | None = None


def _check_inputs(prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> None:
    if len(prompts) != len(steps):
        raise ValueError(f"{len(prompts)} prompts but {len(steps)} step lists; give one per solution")
    for index, solution_steps in enumerate(steps):
        if isinstance(solution_steps, str):
            raise ValueError(f"steps[{index}] is a str; give a list of steps (StepFormat.split)")


class RewardRunner:
    """Batched, length-sorted forward passes of a RewardModel over (prompt, steps) pairs.

    batch_size: solutions per forward. max_length: tokens per solution (default: the
    backbone's max_position_embeddings). overflow: "error" raises on a solution that does not
    fit; "repeat_last" scores the steps cut off with the last step that fits (0.0 if none).
    The model is put in eval mode; inputs go to the model's device.
    """

    def __init__(
        self,
        model: RewardModel,
        tokenizer: Any,
        batch_size: int = 8,
        max_length: int | None = None,
        overflow: str = "error",
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if overflow not in OVERFLOW:
            raise ValueError(f"overflow is {overflow!r}; allowed: {', '.join(OVERFLOW)}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None)
        self.overflow = overflow
        self.step_format = model.step_format
        self.tag_ids = self.step_format.tag_ids(tokenizer)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        self.pad_token_id = int(pad)
        self.padding_side = getattr(tokenizer, "padding_side", "right")

    @property
    def trained_heads(self) -> tuple[str, ...]:
        return self.model.reward_config.trained_heads

    def encode(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[EncodedSolution]:
        _check_inputs(prompts, steps)
        encoded = []
        for index, (prompt, solution_steps) in enumerate(zip(prompts, steps)):
            item = self.step_format.encode(
                self.tokenizer, prompt, list(solution_steps), None, self.max_length, self.tag_ids
            )
            if item.dropped_steps and self.overflow == "error":
                raise ValueError(
                    f"solution {index} does not fit max_length={self.max_length}: its last "
                    f"{item.dropped_steps} of {len(solution_steps)} steps would be cut; raise "
                    "max_length or pass overflow='repeat_last'"
                )
            encoded.append(item)
        return encoded

    @torch.inference_mode()
    def run(
        self, prompts: Sequence[str], steps: Sequence[Sequence[str]]
    ) -> list[tuple[list[float], float]]:
        """Per solution, in input order: (step probabilities, outcome probability)."""
        encoded = self.encode(prompts, steps)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids), reverse=True)
        device = next(self.model.parameters()).device
        results: list[tuple[list[float], float] | None] = [None] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            input_ids, attention_mask, offsets = pad_batch(
                [encoded[i].input_ids for i in chunk], self.pad_token_id, self.padding_side
            )
            output = self.model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device))
            step_probs = torch.sigmoid(output.step_logits.float()).cpu()
            outcome_probs = torch.sigmoid(output.outcome_logits.float()).cpu().tolist()
            for row, (index, offset) in enumerate(zip(chunk, offsets)):
                positions = [offset + p for p in encoded[index].label_positions]
                probs = step_probs[row, positions].tolist() if positions else []
                total = len(steps[index])
                if len(probs) < total:  # overflow == "repeat_last"
                    probs += [probs[-1] if probs else 0.0] * (total - len(probs))
                results[index] = (probs, outcome_probs[row])
        return results  # type: ignore[return-value]


class PRMScorer(RewardRunner):
    """Per-step probabilities from the step head (a `prm.scores.StepScorer`), with aggregation.

    Also an `OutcomeScorer` where the model's outcome head was trained (objective orm,
    bradley_terry or joint), and an `ExtendingStepScorer` (`start`, `extend`, `can_extend`).
    """

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu", **kwargs: Any) -> "PRMScorer":
        model, tokenizer = load_reward_model(directory, device=device)
        return cls(model, tokenizer, **kwargs)

    def _require(self, head: str) -> None:
        if self.trained_heads and head not in self.trained_heads:
            raise ValueError(
                f"this model's {head} head was not trained (objective "
                f"{self.model.reward_config.objective!r} trained {', '.join(self.trained_heads)})"
            )

    def score_steps(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per solution: one probability in [0, 1] per step."""
        self._require("step")
        return [probs for probs, _ in self.run(prompts, steps)]

    def score_outcomes(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[float]:
        """Per solution: the outcome head's probability that the final answer is correct."""
        self._require("outcome")
        return [outcome for _, outcome in self.run(prompts, steps)]

    def score_steps_and_outcomes(
        self, prompts: Sequence[str], steps: Sequence[Sequence[str]]
    ) -> list[tuple[list[float], float]]:
        """Per solution: (step probabilities, outcome probability), both from one forward pass."""
        self._require("step")
        self._require("outcome")
        return [(list(probs), outcome) for probs, outcome in self.run(prompts, steps)]

    @functools.cached_property
    def _extender(self) -> PrefixExtender:
        return PrefixExtender(self)

    def can_extend(self) -> bool:
        """Whether `extend` is exact for this model (a one-time probe; see `prm.prefix_states`)."""
        return self._extender.can_extend()

    def start(self, prompts: Sequence[str]) -> list[Extension]:
        """Per prompt: the state of the prompt with no step yet (its tokens read once)."""
        self._require("step")
        return self._extender.start(prompts)

    def extend(self, states: Sequence[PrefixState], new_steps: Sequence[Sequence[str]]) -> list[Extension]:
        """Per row: the prefix of states[i] grown by new_steps[i], reading only the new tokens
        where the prefix's tokens extend the state's; the step scores of `score_steps`."""
        self._require("step")
        return self._extender.extend(states, new_steps)

    def score(
        self,
        solutions: Iterable[StepwiseSolution | tuple[str, Sequence[str]]],
        aggregation: str = "min",
    ) -> list[SolutionScore]:
        """Step scores and their aggregate (min, prod, last, mean) for each solution."""
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        self._require("step")
        pairs = [(s.prompt, list(s.steps)) if isinstance(s, StepwiseSolution) else (s[0], list(s[1])) for s in solutions]
        results = self.run([p for p, _ in pairs], [s for _, s in pairs])
        with_outcome = "outcome" in self.trained_heads
        return [
            SolutionScore(tuple(probs), aggregate(probs, aggregation), aggregation, outcome if with_outcome else None)
            for probs, outcome in results
        ]
