"""Step labels without rollouts: wrong results planted in reference solutions.

Public: `PerturbConfig`, `perturb_steps`, `perturbed_rows`.

For arithmetic word problems (GSM8K, the synthetic task) a step's own result is the number after
its last "=" ("48/2 = 24 clips"). For each problem with a reference solution this labeler emits
the reference itself (every step good, outcome correct) and `negatives` copies in which one
step's result is changed: that step is the first error and it and every later step are labelled
bad, as a Monte Carlo estimate would label them (nothing continues from a wrong value to the
answer except by luck). The wrong value is carried into the later steps wherever the old one
appears, so when the answer depended on it the final answer changes too, and the outcome label
says whether the final answer (the last step's, as `prm.grading.extract_answer` reads it, else
its last number) still equals the gold one.

It costs no generation at all, which makes it the cheap way to give a PRM arithmetic-checking
labels on a CPU; its errors are planted, not the policy's own, so use it to bootstrap or to
complement rollout labels (`prm label --method math_shepherd|binary_search`), not to replace
them. Rows have the `prm label` output format (`trl_stepwise` for `prm train`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from prm.records import Problem
from prm.steps import StepFormat

# The result of a step: the last number after "=", with an optional currency sign.
_RESULT = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class PerturbConfig:
    """negatives: perturbed copies per reference solution; seed: the choice of step and value."""

    negatives: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.negatives, int) or self.negatives < 0:
            raise ValueError(f"PerturbConfig.negatives must be an int >= 0, got {self.negatives!r}")


def perturb_steps(steps: Sequence[str], rng: random.Random) -> tuple[list[str], int] | None:
    """(steps with one result changed and carried forward, index of the changed step), or None
    when no step has a result to change."""
    candidates = [(i, match) for i, step in enumerate(steps) if (match := _last_result(step)) is not None]
    if not candidates:
        return None
    index, match = rng.choice(candidates)
    old = match.group(1)
    new = _wrong_value(old, rng)
    changed = list(steps)
    step = steps[index]
    changed[index] = step[: match.start(1)] + new + step[match.end(1) :]
    pattern = re.compile(rf"(?<![\d.]){re.escape(old)}(?![\d]|\.\d)")
    for later in range(index + 1, len(steps)):
        changed[later] = pattern.sub(new, steps[later])
    return changed, index


def perturbed_rows(
    problems: Sequence[Problem], config: PerturbConfig, step_format: StepFormat
) -> Iterator[dict[str, Any]]:
    """Label rows: per problem the reference solution, then up to `negatives` perturbed copies.

    Problems without a reference solution raise (ValueError, naming the problem); a reference
    with no step result to change yields the reference row only.
    """
    from prm.sft import reference_steps

    for problem in problems:
        steps = reference_steps(problem, step_format)
        yield _row(problem, steps, None, 0)
        rng = random.Random(f"{config.seed}:{problem.id}")
        seen = {tuple(steps)}
        for copy in range(config.negatives):
            result = perturb_steps(steps, rng)
            if result is None or tuple(result[0]) in seen:
                continue
            seen.add(tuple(result[0]))
            yield _row(problem, result[0], result[1], copy + 1)


def _row(problem: Problem, steps: list[str], first_error: int | None, copy: int) -> dict[str, Any]:
    labels = [first_error is None or i < first_error for i in range(len(steps))]
    correct = first_error is None or (problem.answer is not None and _final_answer(steps) == problem.answer)
    return {
        "prompt": problem.question, "completions": steps, "labels": labels, "id": f"{problem.id}#{copy}",
        "answer": problem.answer, "problem_id": problem.id, "correct": correct, "method": "perturb",
        "first_error": -1 if first_error is None else first_error,
    }


def _final_answer(steps: list[str]) -> str | None:
    """The last step's answer as the grader extracts it (`\\boxed{}`, "The answer is"), else its
    last number."""
    from prm.grading import extract_answer

    if not steps:
        return None
    stated = extract_answer(steps[-1])
    if stated is not None:
        return stated
    numbers = _NUMBER.findall(steps[-1])
    return numbers[-1].replace(",", "") if numbers else None


def _last_result(step: str) -> re.Match[str] | None:
    matches = list(_RESULT.finditer(step))
    return matches[-1] if matches else None


def _wrong_value(text: str, rng: random.Random) -> str:
    """A different number of the same kind: off by a little, by a place value, or digits swapped."""
    plain = text.replace(",", "")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    value = float(plain)
    for _ in range(20):
        kind = rng.random()
        if kind < 0.5:
            candidate = value + rng.choice([-1, 1]) * rng.randint(1, 9) * 10 ** -decimals
        elif kind < 0.8:
            candidate = value * rng.choice([10, 0.1, 2, 0.5])
        else:
            digits = list(plain.lstrip("-"))
            i = rng.randrange(max(1, len(digits) - 1))
            if i + 1 < len(digits) and "." not in digits[i : i + 2]:
                digits[i], digits[i + 1] = digits[i + 1], digits[i]
            candidate = float(("-" if plain.startswith("-") else "") + "".join(digits))
        candidate = round(candidate, decimals)
        if candidate != value and (candidate >= 0 or value < 0):
            return f"{candidate:.{decimals}f}" if decimals else str(int(candidate))
    return str(int(value) + 1) if not decimals else f"{value + 1:.{decimals}f}"
