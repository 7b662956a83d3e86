"""Scorer protocols and step-score aggregation: what search and evaluation depend on.

Public: `StepScorer`, `OutcomeScorer`, `ExtendingStepScorer`, `Extension`, `AGGREGATIONS`,
`aggregate`, `score_steps_in_batches`.

A step scorer gives, per solution, one probability per step that the step is correct; an
outcome scorer gives one probability per solution that its final answer is correct. Search
and evaluation depend on these protocols only, never on how a scorer was trained.

An extending step scorer also keeps what it read of a prefix (a state: for a causal reward
model, its KV cache) so that a prefix grown by a step costs only the new step's tokens:
`start(prompts)` reads the bare prompts, `extend(states, new_steps)` the new steps. It gives
the step scores `score_steps` gives on the grown prefix (to float tolerance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

AGGREGATIONS = ("min", "prod", "last", "mean")


@runtime_checkable
class StepScorer(Protocol):
    def score_steps(
        self, prompts: Sequence[str], steps: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Per solution (prompt i, steps i): one probability in [0, 1] per step."""
        ...


@runtime_checkable
class OutcomeScorer(Protocol):
    def score_outcomes(
        self, prompts: Sequence[str], steps: Sequence[Sequence[str]]
    ) -> list[float]:
        """Per solution: the probability in [0, 1] that its final answer is correct."""
        ...


@dataclass(frozen=True)
class Extension:
    """One prefix as an extending scorer read it.

    step_scores: one probability per step of the prefix (those of the state it grew from are
        carried over). state: opaque; hand it to `extend` to grow this prefix further.
    tokens_read: tokens the scorer read for it (the new tokens only where the state was reused).
    reused: False where the whole prefix was read again (its tokens would not extend the
        state's, e.g. a tokenizer merging across the step boundary, or it does not fit).
    """

    step_scores: tuple[float, ...]
    state: Any
    tokens_read: int
    reused: bool = True


@runtime_checkable
class ExtendingStepScorer(StepScorer, Protocol):
    def can_extend(self) -> bool:
        """Whether extend() is exact for this model (else use score_steps)."""
        ...

    def start(self, prompts: Sequence[str]) -> list[Extension]:
        """Per prompt: the state of the prompt with no step yet (step_scores empty)."""
        ...

    def extend(self, states: Sequence[Any], new_steps: Sequence[Sequence[str]]) -> list[Extension]:
        """Per row: the prefix of states[i] grown by new_steps[i] (one or more steps)."""
        ...


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """One solution score from its step scores: min, prod, last or mean.

    An empty solution scores 0.0 (nothing supports it); an unknown `how` raises.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    if not step_scores:
        return 0.0
    if how == "min":
        return float(min(step_scores))
    if how == "prod":
        return float(math.prod(step_scores))
    if how == "last":
        return float(step_scores[-1])
    return float(sum(step_scores) / len(step_scores))


def score_steps_in_batches(
    scorer: StepScorer,
    solutions: Sequence[Any],
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[float]]:
    """Step scores for every solution (anything with `prompt` and `steps`), `batch_size`
    solutions per `scorer.score_steps` call; on_batch(solutions scored so far) after each."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    scores: list[list[float]] = []
    for start in range(0, len(solutions), batch_size):
        batch = solutions[start : start + batch_size]
        scores.extend(scorer.score_steps([s.prompt for s in batch], [list(s.steps) for s in batch]))
        if on_batch is not None:
            on_batch(len(scores))
    return scores
