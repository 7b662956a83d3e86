"""Scorer protocols and step-score aggregation: what search and evaluation depend on.

Public: `StepScorer`, `OutcomeScorer`, `AGGREGATIONS`, `aggregate`, `score_steps_in_batches`.

A step scorer gives, per solution, one probability per step that the step is correct; an
outcome scorer gives one probability per solution that its final answer is correct. Search
and evaluation depend on these protocols only, never on how a scorer was trained.
"""

from __future__ import annotations

import math
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
