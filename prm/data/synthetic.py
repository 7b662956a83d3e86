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

`step_truth(problem, steps)` judges any solution's steps, model-written ones included. The text
is untrusted: it is read by one linear tokenizing regex with bounded repetitions and a
hand-written scanner; nothing is evaluated as code. The rules, exactly:

* A **claim** is a run of numbers, operators (`+ - * / × · ÷ −`, and `x` between two numbers)
  and `=` signs, with whitespace or `$` between them; any other character ends the run. An
  operator that opens a run and does not touch the number after it (a `- ` bullet) is dropped;
  one that touches it (`-3`) is a sign. Runs without `=` or without a number claim nothing.
* A run with `=` must read `E = N`: E is a number followed by 1 to 8 (operator, number) pairs
  and N one number. Anything else with `=` (`(3 + 4) = 7`, `x = 7`, `3 + 4 = 7 = 7`) cannot be
  verified and counts as an **error**, so an unverified claim is never called correct.
* `E = N` is correct when (a) N equals E under the usual precedence, exactly (fractions, no
  rounding; division by zero is wrong) and (b) it performs the problem's next operations from
  the right value: E's first number is the current value and its (operator, number) pairs are
  the next operations in order (a single `+` or `*` may also be written with its two numbers
  swapped). A correct equation moves the current value to N, past its operations. Failing
  (b), an equation identical to one already accepted is a restatement: correct, moves nothing.
* An **answer statement** is "answer is N" / "answer: N" (any case) or `\\boxed{N}`; it is
  correct when N equals the problem's answer, whether or not the operations were shown.
* A step is correct when every claim and answer statement in it is correct. A step with none
  (a restated question, "Let's add.") claims nothing checkable and is correct: prose such as
  "so Ann has 8" is not read.
* `step_truth(...)[i]` is True when steps 0..i are all correct (the PRM convention: nothing
  after the first error is right). `first_error` is the index of the first wrong step, or -1.

`corrupt(problem, step_index, rng)` writes a wrong solution whose first error is at
step_index, carrying the error forward as a model would.
"""

from __future__ import annotations

import operator
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from prm.records import Problem
from prm.steps import StepFormat

OPERATIONS = ("+", "-", "*", "/")
_MAX_STEPS = 20
_MAX_OPERAND = 10**6
_MAX_CHAIN = 8  # operators in one claim
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

# One alternative per token kind, each with bounded repetition: linear in the text length.
_TOKEN = re.compile(
    r"(?P<num>[0-9]{1,200}(?:\.[0-9]{1,30})?)"
    r"|(?P<op>[-+*/×·÷−])"
    r"|(?P<eq>=)"
    r"|(?P<word>[^\W\d_]{1,40})"
    r"|(?P<space>[ \t\r\n$]{1,64})"
    r"|(?P<other>.)",
    re.DOTALL,
)
_OPERATOR = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_OP_CANONICAL = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "·": "*", "x": "*", "X": "*",
                 "/": "/", "÷": "/"}


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
        values.append(int(_apply(Fraction(values[-1]), op, Fraction(operand))))
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
        value = int(_apply(Fraction(value), op, Fraction(operand)))
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


def _apply(left: Fraction, op: str, right: Fraction) -> Fraction:
    """left op right; "/" by zero raises ZeroDivisionError, which callers handle."""
    return _OPERATOR[op](left, right)


# ---------------------------------------------------------------------------------- truth
def step_truth(problem: Problem, steps: Sequence[str]) -> list[bool]:
    """Per step: True when it and every step before it are correct (rules: module docstring)."""
    if isinstance(steps, str):
        raise ValueError(
            "step_truth takes a list of steps, got one str; split solution text with "
            "StepFormat().split(text, drop_empty=True)"
        )
    start_value, operations, answer = _problem_facts(problem)
    value = start_value
    done = 0
    accepted: set[tuple] = set()
    truth: list[bool] = []
    all_good = True
    for step in steps:
        if not isinstance(step, str):
            raise ValueError(f"steps must be str, got {type(step).__name__}")
        good = True
        for kind, payload in _claims(step):
            if kind == "answer":
                good = good and payload == answer
            elif kind == "malformed":
                good = False
            else:
                numbers, ops, result = payload
                key = (tuple(numbers), tuple(ops), result)
                expected = operations[done : done + len(ops)]
                if _equation_right(numbers, ops, result) and _follows(value, numbers, ops, expected):
                    accepted.add(key)
                    value = result
                    done += len(ops)
                elif key not in accepted:  # a restatement is right but does not move on
                    good = False
        all_good = all_good and good
        truth.append(all_good)
    return truth


def first_error(problem: Problem, steps: Sequence[str]) -> int:
    """Index of the first incorrect step of the solution, or -1 when every step is correct."""
    truth = step_truth(problem, steps)
    return truth.index(False) if False in truth else -1


def _problem_facts(problem: Problem) -> tuple[Fraction, list[tuple[str, Fraction]], Fraction]:
    meta = problem.meta
    try:
        start_value = Fraction(meta["start_value"])
        operations = [(str(op), Fraction(operand)) for op, operand in meta["operations"]]
        answer = Fraction(problem.answer)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"problem {problem.id!r} has no synthetic operations in meta ({error!r}); "
            "step truth needs a Problem from prm.data.synthetic.make_problems"
        ) from None
    return start_value, operations, answer


def _equation_right(numbers: list[Fraction], ops: list[str], result: Fraction) -> bool:
    """numbers[0] ops[0] numbers[1] ... == result under the usual precedence, exactly."""
    try:
        total, term = Fraction(0), numbers[0]
        sign = "+"
        for op, number in zip(ops, numbers[1:]):
            if op in "*/":
                term = _apply(term, op, number)
            else:
                total = _apply(total, sign, term)
                sign, term = op, number
        return _apply(total, sign, term) == result
    except ZeroDivisionError:
        return False


def _follows(value: Fraction, numbers: list[Fraction], ops: list[str], expected: list) -> bool:
    """Does the equation perform the next operations, in order, from the current value?"""
    written = list(zip(ops, numbers[1:]))
    if len(written) != len(expected):
        return False
    if numbers[0] == value and written == expected:
        return True
    # One commutative operation may be written with its numbers swapped: "4 + 3" for 3 + 4.
    if len(ops) == 1 and ops[0] in "+*" and ops[0] == expected[0][0]:
        return numbers[1] == value and numbers[0] == expected[0][1]
    return False


def _claims(step: str):
    """Yield ("equation", (numbers, ops, result)), ("answer", N) and ("malformed", None)."""
    tokens = [(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(step)]
    tokens = [t for t in tokens if t[0] != "space"] + [("end", "", len(step), len(step))]
    run: list[tuple] = []
    for index, token in enumerate(tokens):
        kind, text = token[0], token[1]
        if kind == "word" and text in ("x", "X") and run and run[-1][0] == "num":
            token = ("op", text, token[2], token[3])  # "3 x 4": x between numbers multiplies
            kind = "op"
        if kind in ("num", "op", "eq"):
            run.append(token)
            continue
        if run:
            yield from _judge_run(run)
            run = []
        if kind == "word" and text.lower() == "answer":
            number = _answer_after(tokens, index + 1)
            if number is not None:
                yield ("answer", number)
        elif kind == "word" and text == "boxed" and tokens[index + 1][1] == "{":
            found = _signed_number(tokens, index + 2)
            if found is not None and tokens[found[1]][1] == "}":
                yield ("answer", found[0])


def _answer_after(tokens: list[tuple], index: int) -> Fraction | None:
    """The number after "answer" + optional "is" and/or ":" (at most two tokens skipped)."""
    for skip in range(3):
        token = tokens[index + skip] if index + skip < len(tokens) else ("end", "")
        if token[0] in ("num", "op"):
            found = _signed_number(tokens, index + skip)
            return found[0] if found else None
        if not (token[0] == "word" and token[1].lower() == "is") and token[1] != ":":
            return None
    return None


def _signed_number(tokens: Sequence[tuple], index: int) -> tuple[Fraction, int] | None:
    """(value, next index) of a number at tokens[index], with a sign that touches it."""
    if index >= len(tokens):
        return None
    kind, text, _, end = tokens[index][:4]
    if kind == "num":
        return Fraction(text), index + 1
    if kind == "op" and text in "-−+" and index + 1 < len(tokens):
        after = tokens[index + 1]
        if after[0] == "num" and after[2] == end:
            value = Fraction(after[1])
            return (-value if text != "+" else value), index + 2
    return None


def _judge_run(run: list[tuple]):
    # Leading operators that do not touch a number are bullets or dashes, not signs.
    start = 0
    while start < len(run) and run[start][0] == "op" and _signed_number(run, start) is None:
        start += 1
    run = run[start:]
    kinds = {token[0] for token in run}
    if "eq" not in kinds or "num" not in kinds:
        return  # no "=" claims nothing; "===" rules and the like carry no number
    parsed = _parse_equation(run)
    yield ("equation", parsed) if parsed is not None else ("malformed", None)


def _parse_equation(run: list[tuple]):
    first = _signed_number(run, 0)
    if first is None:
        return None
    numbers, index, ops = [first[0]], first[1], []
    while index < len(run) and run[index][0] == "op" and len(ops) < _MAX_CHAIN:
        number = _signed_number(run, index + 1)
        if number is None:
            return None
        ops.append(_OP_CANONICAL[run[index][1]])
        numbers.append(number[0])
        index = number[1]
    if not ops or index >= len(run) or run[index][0] != "eq":
        return None
    result = _signed_number(run, index + 1)
    if result is None or result[1] != len(run):
        return None
    return numbers, ops, result[0]


# ------------------------------------------------------------------------------ corruption
def corrupt(problem: Problem, step_index: int, rng: random.Random) -> list[str]:
    """Steps of a wrong solution whose first error is at step_index (0..number of operations).

    An error at an operation step is a wrong result or a wrong operand; later steps carry the
    wrong value forward with correct arithmetic where it stays whole; an error at the last step
    states a wrong answer after correct operations.
    """
    start_value, operations, answer = _problem_facts(problem)
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
        result = _apply(value, op, operand)
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
