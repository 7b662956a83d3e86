"""What one labeling job does to a group of units: sample, grade, estimate, build rows.

Public: `LabelingJob`, `problem_units`, `solution_units`, `make_processor`, `job_inputs`, `row_problem`.

A problem unit samples `samples` solutions and labels each (rows `<problem id>#<k>`); a solution
unit labels an existing step-wise solution (its row keeps its id). Rows are the step-wise
records `prm train` reads (`prompt`, `completions`, `labels`, `id`, `answer`) plus
`problem_id`, `correct`, `method`, `first_error`, `mc_values`, `rollouts` (graded rollouts per
step), `rollouts_excluded` (per step), `rollouts_drawn`, `solution_tokens`, `rollout_tokens`,
`generated_tokens` and `seconds`. With method None the rows are sampled, graded solutions
without step labels (ORM data).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from labeling.estimators import EstimatorConfig
from labeling.rollouts import Grade, LabelTask, RolloutConfig, label_steps, outcome_of
from labeling.runner import Unit
from labeling.sampling import DEFAULT_TEMPLATE, policy_prompt, sample_solutions, solution_key
from prm.engines.base import GenerationEngine
from prm.records import Problem, StepwiseSolution, Verdict
from prm.steps import StepFormat


@dataclass(frozen=True)
class LabelingJob:
    """samples: solutions per problem (K). estimator: how to label steps, None = don't.
    rollout: sampling for solutions and rollouts. template: the policy prompt ("{question}")."""

    samples: int = 4
    estimator: EstimatorConfig | None = field(default_factory=EstimatorConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    template: str = DEFAULT_TEMPLATE
    step_format: StepFormat = field(kw_only=True)  # explicit: it is recorded with the labels

    def __post_init__(self) -> None:
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"LabelingJob.samples must be an int >= 1, got {self.samples!r}")
        policy_prompt("x", self.template)  # validates the template


def problem_units(problems: Sequence[Problem], samples: int) -> list[Unit]:
    """One unit per problem, producing rows `<id>#0` .. `<id>#<samples-1>`."""
    return [
        Unit(index, problem.id, tuple(solution_key(problem.id, k) for k in range(samples)), problem)
        for index, problem in enumerate(problems)
    ]


def solution_units(solutions: Sequence[StepwiseSolution]) -> list[Unit]:
    """One unit per solution; a solution without an id gets its position as id."""
    units = []
    for index, solution in enumerate(solutions):
        key = solution.id if solution.id is not None else str(index)
        units.append(Unit(index, key, (key,), solution))
    return units


def job_inputs(units: Sequence[Unit]) -> list[Any]:
    """What the fingerprint hashes of the inputs: each unit's key, ids and content."""
    inputs = []
    for unit in units:
        item = unit.item
        if isinstance(item, Problem):
            content: Any = [item.question, item.answer]
        else:
            content = [item.prompt, list(item.steps), item.answer]
        inputs.append([unit.key, list(unit.ids), content])
    return inputs


def row_problem(row: dict) -> str | None:
    """Why a written row is not a well-formed labeling row (a resume drops it), or None."""
    if not isinstance(row.get("prompt"), str):
        return "malformed row: 'prompt' is not a string"
    steps = row.get("completions")
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        return "malformed row: 'completions' is not a list of strings"
    labels = row.get("labels")
    if labels is not None and (not isinstance(labels, list) or len(labels) != len(steps)):
        return "malformed row: 'labels' is not one label per step"
    return None


def make_processor(job: LabelingJob, engine: GenerationEngine, grade: Grade) -> Callable[[list[Unit]], list[list[dict]]]:
    """The function `run_units` calls on each group of units."""

    def process(group: list[Unit]) -> list[list[dict]]:
        started = time.perf_counter()
        problems = [u.item for u in group if isinstance(u.item, Problem)]
        sampled = {}
        if problems:
            for solutions in sample_solutions(
                problems, engine, grade, job.samples, job.rollout, job.step_format, job.template
            ):
                sampled[solutions[0].problem.id] = solutions
        sample_seconds = time.perf_counter() - started
        tasks, rows = [], {}
        for unit in group:
            if isinstance(unit.item, Problem):
                for solution in sampled[unit.key]:
                    base = StepwiseSolution(
                        prompt=unit.item.question,
                        steps=solution.steps,
                        id=solution.key,
                        answer=unit.item.answer,
                        meta={
                            "problem_id": unit.key,
                            "correct": solution.correct,
                            "finish_reason": solution.finish_reason,
                        },
                    )
                    rows[solution.key] = (base, solution.outcome, solution.num_tokens)
                    tasks.append(_task(job, base, solution.outcome))
            else:
                solution = unit.item
                text = job.step_format.join(solution.steps)
                outcome = outcome_of(grade(solution.answer, text))
                meta = {"problem_id": solution.meta.get("problem_id", unit.key), **dict(solution.meta)}
                meta["correct"] = outcome.as_bool()
                base = StepwiseSolution(solution.prompt, solution.steps, None, unit.key, solution.answer, meta)
                rows[unit.key] = (base, outcome, 0)
                tasks.append(_task(job, base, outcome))
        results = {}
        if job.estimator is not None:
            results = {r.key: r for r in label_steps(tasks, engine, grade, job.estimator, job.rollout, job.step_format)}
        solution_tokens = sum(tokens for _, _, tokens in rows.values())
        out = []
        for unit in group:
            unit_rows = []
            for key in unit.ids:
                base, _, tokens = rows[key]
                unit_rows.append(_row(job, base, tokens, results.get(key), sample_seconds, solution_tokens))
            out.append(unit_rows)
        return out

    return process


def _task(job: LabelingJob, solution: StepwiseSolution, outcome: Verdict) -> LabelTask:
    return LabelTask(
        key=str(solution.id),
        policy_prompt=policy_prompt(solution.prompt, job.template),
        steps=solution.steps,
        answer=solution.answer,
        final_outcome=outcome,
    )


def _row(job, base: StepwiseSolution, solution_tokens: int, result, sample_seconds: float, all_solution_tokens: int) -> dict:
    share = sample_seconds * solution_tokens / all_solution_tokens if all_solution_tokens else 0.0
    meta = dict(base.meta)
    labels = None
    rollout_tokens = drawn = 0
    seconds = share
    if result is not None:
        estimate = result.estimate
        labels = tuple(estimate.labels)
        rollout_tokens, drawn = result.generated_tokens, result.rollouts_drawn
        seconds += result.seconds
        meta.update(
            method=job.estimator.method,
            first_error=estimate.first_error,
            mc_values=estimate.mc_values,
            rollouts=estimate.rollouts,
            rollouts_excluded=estimate.excluded,
        )
    meta.update(
        rollouts_drawn=drawn,
        solution_tokens=solution_tokens,
        rollout_tokens=rollout_tokens,
        generated_tokens=solution_tokens + rollout_tokens,
        seconds=round(seconds, 4),
    )
    solution = StepwiseSolution(base.prompt, base.steps, labels, base.id, base.answer, meta)
    return solution.to_dict()
