"""Outcome scoring: the probability that a solution's final answer is correct.

Public: `ORMScorer`.

`ORMScorer` reads the outcome head (at the last token) of a `RewardModel` trained with the
`orm`, `bradley_terry` or `joint` objective; it is a `prm.scores.OutcomeScorer`, batched and
length-sorted like `prm.scoring.PRMScorer` (one forward per solution). A Bradley-Terry model's
sigmoid is a relative score (only differences between solutions mean something).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from prm.modeling.reward_model import load_reward_model
from prm.scoring import RewardRunner


class ORMScorer(RewardRunner):
    """Outcome probabilities per solution; refuses a model whose outcome head was not trained."""

    def __init__(self, model, tokenizer, batch_size: int = 8, max_length: int | None = None, overflow: str = "error") -> None:
        super().__init__(model, tokenizer, batch_size, max_length, overflow)
        if self.trained_heads and "outcome" not in self.trained_heads:
            raise ValueError(
                f"this model's outcome head was not trained (objective "
                f"{model.reward_config.objective!r}); use prm.scoring.PRMScorer for step scores"
            )

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu", **kwargs: Any) -> "ORMScorer":
        model, tokenizer = load_reward_model(directory, device=device)
        return cls(model, tokenizer, **kwargs)

    def score_outcomes(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[float]:
        """Per solution: a probability in [0, 1] that its final answer is correct."""
        return [outcome for _, outcome in self.run(prompts, steps)]
