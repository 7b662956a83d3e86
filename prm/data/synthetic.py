"""A synthetic multi-step arithmetic task whose step correctness is known exactly.

Public: `SyntheticConfig`, `make_problems`, `step_truth`, `first_error`, `corrupt`,
`OPERATIONS`.

`make_problems(n, config)` builds seeded word problems such as

    Ann has 3 apples. Ann gets 4 more. Ann gives away 2. How many apples does Ann have now?

with the reference solution (steps joined by the default `StepFormat` delimiter "\\n\\n")

    3 + 4 = 7.

    7 - 2 = 5.

    The answer is 5.

Difficulty comes from the parameters: the number of operations, the operand range and the
operations used. Problem i of a seed is the same whatever n is, and values never go below 0.

`step_truth(problem, steps)` judges any solution's steps, model-written ones included, by the
exact rules in `prm.data.synthetic_truth` (re-exported here with `first_error`).

`corrupt(problem, step_index, rng)` writes a wrong solution whose first error is at
step_index, carrying the error forward as a model would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from prm.data.synthetic_truth import apply_operation, first_error, problem_facts, step_truth
from prm.records import Problem
from prm.steps import StepFormat

__all__ = ["OPERATIONS", "SyntheticConfig", "corrupt", "first_error", "make_problems", "step_truth"]

OPERATIONS = ("+", "-", "*", "/")
_MAX_STEPS = 20
_MAX_OPERAND = 10**6
_DEFAULT_FORMAT = StepFormat()

_NAMES = ("Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ivy", "Jon")
_ITEMS = (
    ("apple", "apples"), ("marble", "marbles"), ("sticker", "stickers"),
    ("coin", "coins"), ("book", "books"), ("shell", "shells"), ("card", "cards"),
)
_SENTENCES = {
    "+": "{name} gets {b} more.",
    "-": "{name} gives away {b}.",
    "*": "The number of {items} is multiplied by {b}.",
    "/": "{name} splits the {items} into {b} equal groups and keeps one group.",
}

@dataclass(frozen=True)
class SyntheticConfig:
    """What problems `make_problems` builds.

    num_steps: operations per problem, an int or an inclusive (low, high) range (1..20).
    min_operand, max_operand: inclusive range of the start value and of every operand.
    operations: which of "+", "-", "*", "/" may appear ("/" only where it divides exactly,
        "-" only where the value stays >= 0; "*" and "/" skip operands 0 and 1 where
        max_operand >= 2).
    seed: problem i of a seed is always the same problem.
    """

    num_steps: int | tuple[int, int] = (1, 3)
    min_operand: int = 1
    max_operand: int = 9
    operations: tuple[str, ...] = ("+", "-", "*")
    seed: int = 0

    def __post_init__(self) -> None:
        steps = self.num_steps
        if isinstance(steps, int) and not isinstance(steps, bool):
            steps = (steps, steps)
        elif isinstance(steps, (tuple, list)):
            steps = tuple(steps)
        if (
            not isinstance(steps, tuple) or len(steps) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in steps)
            or not 1 <= steps[0] <= steps[1] <= _MAX_STEPS
        ):
            raise ValueError(
                f"SyntheticConfig.num_steps must be an int or a (low, high) pair with "
                f"1 <= low <= high <= {_MAX_STEPS}, got {self.num_steps!r}"
            )
        object.__setattr__(self, "num_steps", steps)
        for name in ("min_operand", "max_operand", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"SyntheticConfig.{name} must be an int, got {value!r}")
        if not 0 <= self.min_operand <= self.max_operand <= _MAX_OPERAND:
            raise ValueError(
                f"SyntheticConfig needs 0 <= min_operand <= max_operand <= {_MAX_OPERAND}, "
                f"got min_operand={self.min_operand!r}, max_operand={self.max_operand!r}"
            )
        operations = tuple(self.operations) if not isinstance(self.operations, str) else ()
        if not operations or len(set(operations)) != len(operations) or any(
            op not in OPERATIONS for op in operations
        ):
            raise ValueError(
                f"SyntheticConfig.operations must be a non-empty tuple of distinct operations "
                f"from {OPERATIONS}, got {self.operations!r}"
            )
        object.__setattr__(self, "operations", operations)


# ---------------------------------------------------------------------------- generation
def make_problems(n: int, config: SyntheticConfig = SyntheticConfig(), start: int = 0) -> list[Problem]:
    """Problems start..start+n-1 of `config.seed`, each with answer, reference solution and,
    in `meta`, the exact operations (`start_value`, `operations` as [op, operand] pairs,
    `values` after each operation) that `step_truth` checks against."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"make_problems: n must be an int >= 0, got {n!r}")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"make_problems: start must be an int >= 0, got {start!r}")
    if not isinstance(config, SyntheticConfig):
        raise ValueError(f"make_problems: config must be a SyntheticConfig, got {type(config).__name__}")
    return [_make_problem(index, config) for index in range(start, start + n)]


def _make_problem(index: int, config: SyntheticConfig) -> Problem:
    rng = random.Random(f"prm-synthetic:{config.seed}:{index}")
    for _ in range(1000):
        low, high = config.num_steps
        num_ops = rng.randint(low, high)
        start_value = rng.randint(config.min_operand, config.max_operand)
        operations = _draw_operations(rng, config, start_value, num_ops)
        if operations is not None:
            break
    else:
        raise ValueError(
            f"SyntheticConfig {config!r} leaves no valid operation sequence (values must stay "
            "whole and >= 0); widen the operand range or add '+' or '*' to operations"
        )
    values = [start_value]
    for op, operand in operations:
        values.append(int(apply_operation(Fraction(values[-1]), op, Fraction(operand))))
    name = rng.choice(_NAMES)
    singular, plural = rng.choice(_ITEMS)
    sentences = [f"{name} has {start_value} {singular if start_value == 1 else plural}."]
    sentences += [_SENTENCES[op].format(name=name, b=operand, items=plural) for op, operand in operations]
    sentences.append(f"How many {plural} does {name} have now?")
    steps = [f"{values[i]} {op} {operand} = {values[i + 1]}." for i, (op, operand) in enumerate(operations)]
    steps.append(f"The answer is {values[-1]}.")
    return Problem(
        id=f"synthetic-{config.seed}-{index}",
        question=" ".join(sentences),
        answer=str(values[-1]),
        reference_solution=_DEFAULT_FORMAT.join(steps),
        source="synthetic",
        meta={
            "start_value": start_value,
            "operations": [[op, operand] for op, operand in operations],
            "values": values,
            "seed": config.seed,
            "index": index,
        },
    )


def _draw_operations(rng: random.Random, config: SyntheticConfig, value: int, count: int):
    operations = []
    for _ in range(count):
        choices = []
        for op in config.operations:
            operands = _valid_operands(op, value, config.min_operand, config.max_operand)
            if operands:
                choices.append((op, operands))
        if not choices:
            return None
        op, operands = rng.choice(choices)
        operand = rng.choice(operands)
        operations.append((op, operand))
        value = int(apply_operation(Fraction(value), op, Fraction(operand)))
    return operations


def _valid_operands(op: str, value: int, low: int, high: int) -> range | list[int]:
    if op in "*/" and high >= 2:
        low = max(low, 2)  # "multiplied by 1" and "1 equal groups" teach nothing
    if op == "-":
        return range(low, min(high, value) + 1)
    if op == "/":  # only where it divides exactly, by a non-zero operand
        if value == 0:
            return range(max(low, 1), high + 1)
        return [d for d in range(max(low, 1), min(high, value) + 1) if value % d == 0]
    return range(low, high + 1)


# ------------------------------------------------------------------------------ corruption
def corrupt(problem: Problem, step_index: int, rng: random.Random) -> list[str]:
    """Steps of a wrong solution whose first error is at step_index (0..number of operations).

    An error at an operation step is a wrong result or a wrong operand; later steps carry the
    wrong value forward with correct arithmetic where it stays whole; an error at the last step
    states a wrong answer after correct operations.
    """
    start_value, operations, answer = problem_facts(problem)
    if not isinstance(step_index, int) or not 0 <= step_index <= len(operations):
        raise ValueError(
            f"corrupt: step_index must be in 0..{len(operations)} for problem {problem.id!r} "
            f"({len(operations)} operations and an answer step), got {step_index!r}"
        )
    for _ in range(100):
        steps = _corrupted_steps(start_value, operations, answer, step_index, rng)
        if first_error(problem, steps) == step_index:
            return steps
    raise RuntimeError(f"corrupt: could not place an error at step {step_index} of {problem.id!r}")


def _corrupted_steps(start_value, operations, answer, step_index, rng) -> list[str]:
    value = start_value
    steps = []
    for index, (op, operand) in enumerate(operations):
        wrong_result = index == step_index
        if index == step_index and op != "/" and rng.random() < 0.5:
            # A wrong operand with right arithmetic; "-" keeps the value >= 0.
            wrong = _wrong(operand, rng, minimum=0, maximum=value if op == "-" else None)
            wrong_result = wrong is None
            operand = operand if wrong is None else wrong
        result = apply_operation(value, op, operand)
        if result.denominator != 1:
            result = Fraction(int(result))  # keep the carried-forward values whole
        if wrong_result:
            result = _wrong(result, rng, minimum=0)
        steps.append(f"{_show(value)} {op} {_show(operand)} = {_show(result)}.")
        value = result
    final = _wrong(answer, rng, minimum=0) if step_index == len(operations) else value
    steps.append(f"The answer is {_show(final)}.")
    return steps


def _wrong(number: Fraction, rng: random.Random, minimum: int, maximum=None) -> Fraction | None:
    """A nearby different number in [minimum, maximum], or None where there is none."""
    options = [number + d for d in (-3, -2, -1, 1, 2, 3)]
    options = [o for o in options if o >= minimum and (maximum is None or o <= maximum)]
    return rng.choice(options) if options else None


def _show(number: Fraction) -> str:
    return str(number.numerator) if number.denominator == 1 else str(float(number))
