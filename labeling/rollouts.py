"""Run the estimators of many solutions against one engine, batching their rollouts.

Public: `RolloutConfig`, `LabelTask`, `LabelResult`, `label_steps`, `rollout_prompt`,
`outcome_of`, `Grade`.

The rollout prompt for step i = the policy prompt + `StepFormat.join(steps[:i + 1])` + the
delimiter; the rollout runs to the end (no stop strings) and the full solution (prefix +
rollout) is graded against the gold answer. Rollouts that stop at the length limit or cannot be
graded count as `Verdict.UNGRADABLE` (left out of every estimate). Every request's seed derives from (solution key, step, round), so a
solution's rollouts do not depend on which other solutions share the engine call (exactly so on
engines that take per-prompt seeds). The layer knows engines only through the protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from labeling.estimators import EstimatorConfig, StepEstimate, estimate_steps
from prm.engines.base import GenerationEngine, SamplingConfig, generate_seeded, row_seed
from prm.records import Verdict
from prm.steps import StepFormat

Grade = Callable[[str | None, str], Any]
"""grade(gold_answer, solution_text) -> a Verdict, a GradeResult (`.verdict`), a bool, or None (ungradable)."""


@dataclass(frozen=True)
class RolloutConfig:
    """Sampling for solutions and rollouts (temperature 0 = greedy; top_p in (0, 1])."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        # SamplingConfig validates the same fields with the same messages.
        SamplingConfig(temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens)

    def sampling(self, n: int, stop: Sequence[str] = ()) -> SamplingConfig:
        return SamplingConfig(
            n=n, temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens, stop=tuple(stop), seed=None
        )


@dataclass(frozen=True)
class LabelTask:
    """One solution to label. policy_prompt: what the policy saw before the first step;
    final_outcome: the solution's own grade."""

    key: str
    policy_prompt: str
    steps: tuple[str, ...]
    answer: str | None
    final_outcome: Verdict

    def __post_init__(self) -> None:
        object.__setattr__(self, "final_outcome", Verdict.of(self.final_outcome))


@dataclass
class LabelResult:
    """An estimate plus its cost: rollouts drawn, tokens generated, seconds (a share of the
    batch's wall time, by generated tokens)."""

    key: str
    estimate: StepEstimate
    rollouts_drawn: int
    generated_tokens: int
    seconds: float


def outcome_of(result: Any) -> Verdict:
    """A grader's answer as a `Verdict`: accepts a Verdict, a GradeResult (`.verdict`), a bool,
    or None (ungradable)."""
    return Verdict.of(result)


def rollout_prompt(policy_prompt: str, steps: Sequence[str], step: int, step_format: StepFormat) -> str:
    """The policy prompt, steps 0..step and the delimiter: where a rollout from step `step` starts."""
    return policy_prompt + step_format.join(steps[: step + 1]) + step_format.delimiter


def label_steps(
    tasks: Sequence[LabelTask],
    engine: GenerationEngine,
    grade: Grade,
    estimator: EstimatorConfig,
    rollout: RolloutConfig,
    step_format: StepFormat,
) -> list[LabelResult]:
    """Label the steps of every task; all tasks' pending rollouts go to the engine together."""
    coroutines = {}
    requests = {}
    results: dict[str, StepEstimate] = {}
    tokens = {task.key: 0 for task in tasks}
    drawn = {task.key: 0 for task in tasks}
    by_key = {}
    for task in tasks:
        if task.key in by_key:
            raise ValueError(f"duplicate task key {task.key!r}; give every solution its own key")
        by_key[task.key] = task
        coroutine = estimate_steps(len(task.steps), task.final_outcome, estimator)
        _advance(task.key, coroutine, None, coroutines, requests, results)
    started = time.perf_counter()
    while requests:
        answers: dict[str, list[list[Verdict]]] = {key: [] for key in requests}
        flat = [(key, request) for key, batch in requests.items() for request in batch]
        for n in sorted({request.n for _, request in flat}):
            group = [(key, request) for key, request in flat if request.n == n]
            prompts = [rollout_prompt(by_key[k].policy_prompt, by_key[k].steps, r.step, step_format) for k, r in group]
            seeds = [row_seed(k, r.step, r.round) for k, r in group]
            completions = generate_seeded(engine, prompts, rollout.sampling(n), seeds)
            for (key, request), samples in zip(group, completions):
                task = by_key[key]
                prefix = step_format.join(task.steps[: request.step + 1]) + step_format.delimiter
                outcomes = []
                for sample in samples:
                    tokens[key] += sample.num_tokens
                    drawn[key] += 1
                    if sample.finish_reason == "length":
                        outcomes.append(Verdict.UNGRADABLE)
                    else:
                        outcomes.append(outcome_of(grade(task.answer, prefix + sample.text)))
                answers[key].append(outcomes)
        for key, batch in list(requests.items()):
            del requests[key]
            _advance(key, coroutines[key], _reorder(batch, answers[key]), coroutines, requests, results)
    elapsed = time.perf_counter() - started
    total_tokens = sum(tokens.values())
    return [
        LabelResult(
            key=task.key,
            estimate=results[task.key],
            rollouts_drawn=drawn[task.key],
            generated_tokens=tokens[task.key],
            seconds=elapsed * tokens[task.key] / total_tokens if total_tokens else 0.0,
        )
        for task in tasks
    ]


def _reorder(batch, answered: list[list[Verdict]]) -> list[list[Verdict]]:
    """Answers were collected per n-group in ascending n (stable within a group); put them
    back in request order."""
    order = sorted(range(len(batch)), key=lambda i: batch[i].n)
    result: list[list[Verdict]] = [[] for _ in batch]
    for position, index in enumerate(order):
        result[index] = answered[position]
    return result


def _advance(key, coroutine, answer, coroutines, requests, results) -> None:
    """Send `answer` (None to start) and store the next requests or the final estimate."""
    try:
        batch = coroutine.send(answer)
    except StopIteration as stop:
        results[key] = stop.value
        coroutines.pop(key, None)
        return
    coroutines[key] = coroutine
    requests[key] = batch
