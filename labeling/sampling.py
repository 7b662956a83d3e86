"""Sample K solutions per problem from a policy in the step format, and grade them.

Public: `DEFAULT_TEMPLATE`, `policy_prompt`, `SampledSolution`, `sample_solutions`,
`preference_pairs`.

The same output is ORM data: each solution's grade is its correctness label, and
`preference_pairs` turns the solutions of a problem into chosen (correct) / rejected
(incorrect) `prm.records.PreferencePair`s, steps as lists. Solutions are split into steps with `StepFormat.split(drop_empty=True)`;
one that stops at the length limit or gives no gradable answer has outcome `Verdict.UNGRADABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from labeling.rollouts import Grade, RolloutConfig, outcome_of
from prm.engines.base import GenerationEngine, generate_seeded, row_seed
from prm.engines.prompts import DEFAULT_TEMPLATE, policy_prompt
from prm.records import PreferencePair, Problem, Verdict
from prm.steps import StepFormat


@dataclass(frozen=True)
class SampledSolution:
    """Solution `index` of `problem`: the text as generated, its steps and its grade."""

    key: str
    problem: Problem
    index: int
    text: str
    steps: tuple[str, ...]
    outcome: Verdict
    finish_reason: str
    num_tokens: int

    @property
    def correct(self) -> bool | None:
        return self.outcome.as_bool()


def solution_key(problem_id: str, index: int) -> str:
    """The record id of solution `index` of a problem."""
    return f"{problem_id}#{index}"


def sample_solutions(
    problems: Sequence[Problem],
    engine: GenerationEngine,
    grade: Grade,
    samples: int,
    rollout: RolloutConfig,
    step_format: StepFormat,
    template: str = DEFAULT_TEMPLATE,
) -> list[list[SampledSolution]]:
    """`samples` graded solutions per problem, in problem order, from one engine call.

    Seeds derive from the problem id, so a problem's solutions do not depend on its batch."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    prompts = [policy_prompt(p.question, template) for p in problems]
    seeds = [row_seed(p.id, "solutions") for p in problems]
    completions = generate_seeded(engine, prompts, rollout.sampling(samples), seeds)
    result = []
    for problem, outputs in zip(problems, completions):
        solutions = []
        for index, completion in enumerate(outputs):
            if completion.finish_reason == "length":
                outcome = Verdict.UNGRADABLE
            else:
                outcome = outcome_of(grade(problem.answer, completion.text))
            solutions.append(
                SampledSolution(
                    key=solution_key(problem.id, index),
                    problem=problem,
                    index=index,
                    text=completion.text,
                    steps=tuple(step_format.split(completion.text, drop_empty=True)),
                    outcome=outcome,
                    finish_reason=completion.finish_reason,
                    num_tokens=completion.num_tokens,
                )
            )
        result.append(solutions)
    return result


def preference_pairs(
    rows: Iterable[Mapping[str, Any]], max_pairs_per_problem: int | None = None
) -> list[PreferencePair]:
    """ORM preference pairs from step-wise rows with "problem_id" and "correct": every correct
    solution against every incorrect one of the same problem (ungraded ones are skipped), in
    input order, at most `max_pairs_per_problem` per problem. chosen / rejected are the rows'
    steps (`completions`) as lists, the form `orm.read_pairs` reads back."""
    by_problem: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_problem.setdefault(str(row.get("problem_id", row.get("id"))), []).append(row)
    pairs = []
    for problem_id, group in by_problem.items():
        chosen = [r for r in group if r.get("correct") is True]
        rejected = [r for r in group if r.get("correct") is False]
        made = 0
        for good in chosen:
            for bad in rejected:
                if max_pairs_per_problem is not None and made >= max_pairs_per_problem:
                    break
                pairs.append(
                    PreferencePair(
                        prompt=good["prompt"],
                        chosen=tuple(good["completions"]),
                        rejected=tuple(bad["completions"]),
                        id=f"{good['id']}>{bad['id']}",
                        meta={"problem_id": problem_id},
                    )
                )
                made += 1
    return pairs
