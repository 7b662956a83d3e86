"""An ensemble of reward models as one scorer: mean, min, or mean - k * std of the members.

Public: `COMBINATIONS`, `combine`, `EnsembleScorer`.

`EnsembleScorer(members, how, k)` is a `prm.scores.StepScorer` and `OutcomeScorer`: each
member scores the same (prompt, steps) pairs, and the ensemble combines, per step (or per
solution for the outcome head), the members' probabilities:

- `mean`: their average;
- `min`: the most pessimistic member (a step is as good as its harshest judge);
- `mean_std`: mean - k * std, std the population standard deviation over members (ddof 0),
  a lower confidence bound that penalises disagreement (uncertainty-aware rewards against
  reward hacking); clipped to [0, 1] so it stays a probability.

`score_steps_and_outcomes` reads both heads of every member in one pass (as `PRMScorer` does).
Search, `prm.rewards.StepReward` and the reward server take it wherever they take a PRMScorer;
the CLI builds one from several folders (`--prm A B --ensemble mean_std`, `prm.cli.wiring`).
Members must split solutions the same way (equal StepFormat delimiters); each keeps its own
tag and tokenizer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

COMBINATIONS = ("mean", "min", "mean_std")


def combine(values: Sequence[float], how: str = "mean", k: float = 1.0) -> float:
    """One probability from the members' probabilities of one step or solution."""
    if how not in COMBINATIONS:
        raise ValueError(f"unknown ensemble combination {how!r}; choose one of {', '.join(COMBINATIONS)}")
    if not values:
        raise ValueError("combine needs at least one member's value")
    if how == "min":
        return float(min(values))
    mean = sum(values) / len(values)
    if how == "mean":
        return float(mean)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return float(min(1.0, max(0.0, mean - k * std)))


class EnsembleScorer:
    """Members' step and outcome probabilities, combined per step (see the module docstring).

    members: scorers with `score_steps` (and `score_outcomes` for the outcome head); how:
    one of COMBINATIONS; k: the std multiplier of "mean_std" (>= 0).
    """

    def __init__(self, members: Sequence[Any], how: str = "mean", k: float = 1.0) -> None:
        members = list(members)
        if not members:
            raise ValueError("EnsembleScorer needs at least one member")
        if how not in COMBINATIONS:
            raise ValueError(f"unknown ensemble combination {how!r}; choose one of {', '.join(COMBINATIONS)}")
        if isinstance(k, bool) or not isinstance(k, (int, float)) or k < 0:
            raise ValueError(f"EnsembleScorer k must be a number >= 0, got {k!r}")
        formats = [getattr(m, "step_format", None) for m in members]
        delimiters = {f.delimiter for f in formats if f is not None}
        if len(delimiters) > 1:
            raise ValueError(
                f"ensemble members split steps differently (delimiters {sorted(map(repr, delimiters))}); "
                "ensemble models of one step format"
            )
        self.members, self.how, self.k = members, how, float(k)
        self.step_format = next((f for f in formats if f is not None), None)

    @classmethod
    def from_pretrained(cls, directories: Sequence[str | Path], how: str = "mean", k: float = 1.0,
                        device: str = "cpu", **options: Any) -> "EnsembleScorer":
        """Members loaded with `prm.scoring.PRMScorer.from_pretrained(directory, device, **options)`."""
        from prm.scoring import PRMScorer

        if isinstance(directories, (str, Path)):
            raise ValueError("give a list of reward-model folders (one per member)")
        return cls([PRMScorer.from_pretrained(d, device=device, **options) for d in directories], how, k)

    @property
    def trained_heads(self) -> tuple[str, ...]:
        """The heads every member trained (a member that records none counts as having all)."""
        heads = [tuple(getattr(m, "trained_heads", ()) or ("step", "outcome")) for m in self.members]
        return tuple(h for h in ("step", "outcome") if all(h in member for member in heads))

    def score_steps(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per solution: one combined probability per step."""
        return self._combine_steps([m.score_steps(prompts, steps) for m in self.members], steps)

    def score_steps_and_outcomes(self, prompts: Sequence[str],
                                 steps: Sequence[Sequence[str]]) -> list[tuple[list[float], float]]:
        """Per solution: (combined step probabilities, combined outcome probability), one
        forward pass per member where the member reads both heads at once."""
        step_lists, outcome_lists = [], []
        for member in self.members:
            if hasattr(member, "score_steps_and_outcomes"):
                pairs = member.score_steps_and_outcomes(prompts, steps)
                step_lists.append([step for step, _ in pairs])
                outcome_lists.append([outcome for _, outcome in pairs])
            else:
                step_lists.append(member.score_steps(prompts, steps))
                outcome_lists.append(member.score_outcomes(prompts, steps))
        outcomes = [combine(values, self.how, self.k) for values in zip(*outcome_lists)]
        return list(zip(self._combine_steps(step_lists, steps), outcomes))

    def _combine_steps(self, per_member: Sequence[Sequence[Sequence[float]]],
                       steps: Sequence[Sequence[str]]) -> list[list[float]]:
        combined = []
        for index, solution in enumerate(zip(*per_member)):
            lengths = {len(s) for s in solution}
            if lengths != {len(steps[index])}:
                raise ValueError(f"solution {index}: members gave {sorted(lengths)} step scores for "
                                 f"{len(steps[index])} steps")
            combined.append([combine(values, self.how, self.k) for values in zip(*solution)])
        return combined

    def score_outcomes(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[float]:
        """Per solution: the members' outcome probabilities, combined."""
        per_member = [m.score_outcomes(prompts, steps) for m in self.members]
        return [combine(values, self.how, self.k) for values in zip(*per_member)]
