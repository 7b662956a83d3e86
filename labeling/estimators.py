"""Monte Carlo step-label estimators, written as coroutines that never see an engine.

Public: `EstimatorConfig`, `StepEstimate`, `RolloutRequest`, `estimate_steps`, `METHODS`.

Step i's prefix is the solution's steps 0..i. A rollout continues a prefix to the end and is
graded on the final answer; each outcome is a `prm.records.Verdict` (UNGRADABLE: hit the length
limit or could not be graded, counted apart as "excluded" and left out of every estimate). The last step's
prefix is the whole solution, so its label is the solution's own grade and costs no rollout.

- `math_shepherd`: N rollouts from every prefix; hard label = any rollout correct, soft label =
  fraction correct among graded rollouts (Math-Shepherd). With `early_stop`, rollouts are drawn
  in rounds of `round_size` and a prefix stops as soon as one is correct (its hard label is then
  known; its soft value is the fraction among the rollouts drawn).
- `binary_search`: the first step from which no rollout succeeds, found by Monte Carlo estimates
  at midpoints (OmegaPRM style): about log2(steps) estimates instead of one per step. A solution
  whose final answer is correct is labelled all good without rollouts (the OmegaPRM assumption)
  unless `verify_correct`, which searches it too (a right answer can follow a wrong step);
  steps before the first error are good, the rest bad. `early_stop` works as above. A midpoint
  whose rollouts were all excluded gives no evidence either way: the search stops there and
  the steps it could not decide are left unlabelled (None), never called bad.

`estimate_steps(num_steps, final_outcome, config)` returns a generator: it yields lists of
`RolloutRequest`, takes back per request the list of outcomes, and returns a `StepEstimate`.
A driver (`labeling.rollouts`) batches the requests of many solutions into one engine call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator, Sequence

from prm.records import Verdict

METHODS = ("math_shepherd", "binary_search")
LABEL_TYPES = ("hard", "soft")


@dataclass(frozen=True)
class EstimatorConfig:
    """method: math_shepherd or binary_search. rollouts: most rollouts per estimated prefix (N).
    early_stop: stop a prefix at its first correct rollout. round_size: rollouts per round with
    early_stop (default 2; without early_stop all N are drawn at once).
    label_type: "hard" (0/1) or "soft" (fraction correct; math_shepherd only).
    verify_correct: binary_search also searches solutions whose final answer is correct.
    min_correct: binary_search calls a prefix good once this many rollouts are correct (1 is
    OmegaPRM's rule; 2 guards the search against a lucky rollout from a bad prefix)."""

    method: str = "math_shepherd"
    rollouts: int = 8
    early_stop: bool = False
    round_size: int = 2
    label_type: str = "hard"
    verify_correct: bool = False
    min_correct: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"EstimatorConfig.method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.label_type not in LABEL_TYPES:
            raise ValueError(
                f"EstimatorConfig.label_type must be one of {', '.join(LABEL_TYPES)}, got {self.label_type!r}"
            )
        for name in ("rollouts", "round_size", "min_correct"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"EstimatorConfig.{name} must be an int >= 1, got {value!r}")
        if self.label_type == "soft" and self.method != "math_shepherd":
            raise ValueError("EstimatorConfig.label_type='soft' needs method='math_shepherd'")
        if self.min_correct != 1 and self.method != "binary_search":
            raise ValueError("EstimatorConfig.min_correct other than 1 needs method='binary_search'")
        if self.min_correct > self.rollouts:
            raise ValueError(f"EstimatorConfig.min_correct ({self.min_correct}) must be <= rollouts ({self.rollouts})")

    @property
    def batch(self) -> int:
        """Rollouts per round."""
        return min(self.round_size, self.rollouts) if self.early_stop else self.rollouts


@dataclass(frozen=True)
class RolloutRequest:
    """`n` rollouts from the prefix ending at step `step`; `round` numbers the requests for one
    step (rollout seeds derive from (solution key, step, round))."""

    step: int
    n: int
    round: int


@dataclass
class StepEstimate:
    """Per step: label (1.0 good, 0.0 bad, soft value, or None = no evidence), mc_value (fraction
    of graded rollouts that were correct, None where not estimated), rollouts (graded rollouts),
    excluded (rollouts left out: length limit or ungradable). first_error: first step labelled
    bad, or -1."""

    labels: list[float | None]
    mc_values: list[float | None]
    rollouts: list[int]
    excluded: list[int]
    first_error: int = field(default=-1)


Estimator = Generator[list[RolloutRequest], list[list[Verdict]], StepEstimate]


def _check_outcome(what: str, outcome: Any) -> Verdict:
    if not isinstance(outcome, Verdict):
        raise ValueError(f"{what} must be a Verdict ({', '.join(v.name for v in Verdict)}), got {outcome!r}")
    return outcome


def estimate_steps(num_steps: int, final_outcome: Verdict, config: EstimatorConfig) -> Estimator:
    """The estimator coroutine of `config.method` for one solution (see module docstring)."""
    _check_outcome("final_outcome", final_outcome)
    if num_steps < 0:
        raise ValueError(f"num_steps must be >= 0, got {num_steps}")
    if config.method == "math_shepherd":
        return _math_shepherd(num_steps, final_outcome, config)
    return _binary_search(num_steps, final_outcome, config)


class _Tally:
    def __init__(self, num_steps: int):
        self.correct = [0] * num_steps
        self.graded = [0] * num_steps
        self.excluded = [0] * num_steps
        self.rounds = [0] * num_steps

    def drawn(self, step: int) -> int:
        return self.graded[step] + self.excluded[step]

    def add(self, step: int, outcomes: Sequence[Verdict]) -> None:
        self.rounds[step] += 1
        for outcome in outcomes:
            if _check_outcome("rollout outcome", outcome) is Verdict.UNGRADABLE:
                self.excluded[step] += 1
            else:
                self.graded[step] += 1
                self.correct[step] += outcome is Verdict.CORRECT

    def mc_value(self, step: int) -> float | None:
        return self.correct[step] / self.graded[step] if self.graded[step] else None


def _final_label(final_outcome: Verdict) -> float | None:
    correct = final_outcome.as_bool()
    return None if correct is None else float(correct)


def _estimate_prefixes(steps: list[int], tally: _Tally, config: EstimatorConfig, needed: int = 1):
    """Draw rollouts for `steps` round by round until each has its N (or, with early stop,
    `needed` correct ones). A sub-coroutine shared by both methods."""
    pending = list(steps)
    while pending:
        requests = [
            RolloutRequest(s, min(config.batch, config.rollouts - tally.drawn(s)), tally.rounds[s])
            for s in pending
        ]
        answers = yield requests
        for request, outcomes in zip(requests, answers):
            tally.add(request.step, outcomes)
        pending = [
            s
            for s in pending
            if tally.drawn(s) < config.rollouts and not (config.early_stop and tally.correct[s] >= needed)
        ]


def _first_bad(labels: Sequence[float | None]) -> int:
    return next((i for i, v in enumerate(labels) if v is not None and v < 0.5), -1)


def _math_shepherd(num_steps: int, final_outcome: Verdict, config: EstimatorConfig) -> Estimator:
    tally = _Tally(num_steps)
    yield from _estimate_prefixes(list(range(num_steps - 1)), tally, config)
    labels: list[float | None] = []
    mc_values: list[float | None] = []
    for step in range(num_steps - 1):
        value = tally.mc_value(step)
        mc_values.append(value)
        if value is None:
            labels.append(None)
        elif config.label_type == "soft":
            labels.append(value)
        else:
            labels.append(1.0 if tally.correct[step] > 0 else 0.0)
    if num_steps:
        labels.append(_final_label(final_outcome))
        mc_values.append(_final_label(final_outcome))
    return StepEstimate(labels, mc_values, tally.graded, tally.excluded, _first_bad(labels))


def _binary_search(num_steps: int, final_outcome: Verdict, config: EstimatorConfig) -> Estimator:
    tally = _Tally(num_steps)
    mc_values: list[float | None] = [None] * num_steps
    if num_steps == 0:
        return StepEstimate([], [], [], [], -1)
    mc_values[-1] = _final_label(final_outcome)
    if final_outcome is Verdict.CORRECT and not config.verify_correct:
        return StepEstimate([1.0] * num_steps, mc_values, tally.graded, tally.excluded, -1)
    # Invariant: every step before `low` has a successful rollout; step `high` has none, or
    # high == num_steps ("no bad step") when the final answer is correct. The last step's
    # value is its own grade and costs no rollout.
    low, high = 0, num_steps if final_outcome is Verdict.CORRECT else num_steps - 1
    while low < high:
        middle = (low + high) // 2
        if middle == num_steps - 1:
            success = final_outcome is Verdict.CORRECT
        else:
            yield from _estimate_prefixes([middle], tally, config, config.min_correct)
            mc_values[middle] = tally.mc_value(middle)
            if mc_values[middle] is None:  # every rollout excluded: no evidence for [low, high)
                break
            success = tally.correct[middle] >= config.min_correct
        if success:
            low = middle + 1
        else:
            high = middle
    # Steps before `low` are good, from `high` on bad; a search stopped without evidence leaves
    # the steps in between unlabelled.
    labels: list[float | None] = [1.0] * low + [None] * (high - low) + [0.0] * (num_steps - high)
    if high == num_steps - 1 or low == num_steps - 1:
        labels[-1] = _final_label(final_outcome)
    return StepEstimate(labels, mc_values, tally.graded, tally.excluded, _first_bad(labels))
