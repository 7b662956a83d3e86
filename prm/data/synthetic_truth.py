"""The exact step checker of the synthetic arithmetic task (`prm.data.synthetic`).

Public: `step_truth`, `first_error` (both re-exported by `prm.data.synthetic`),
`first_error_kind`, `judge_steps`, `ERROR_KINDS`, `unverifiable_steps`, `problem_facts`, `apply_operation`.

`step_truth(problem, steps)` judges any solution's steps, model-written ones included. The text
is untrusted: it is read by one linear tokenizing regex with bounded repetitions and a
hand-written scanner; nothing is evaluated as code. The rules, exactly:

* A **claim** is a run of numbers (thousands separators allowed: `1,100`), operators
  (`+ - * / × · ÷ −`, LaTeX `\\times \\cdot \\div`, and `x` between two numbers) and `=` signs,
  with whitespace, `$` or LaTeX math delimiters (`\\( \\) \\[ \\]`) between them; any other
  character ends the run. An operator that opens a run and does not touch the number after it
  (a `- ` bullet) is dropped; one that touches it (`-3`) is a sign. Runs without `=` or without
  a number claim nothing.
* A **named quantity**: a run that opens with `=` right after a word (`apples = 3 + 4 = 7`) has
  that `=` dropped and is judged as the rest; `apples = 7` alone is a value statement.
* A **value statement** is `NAME = N` or `has N` / `have N` / `had N` (not followed by `more`,
  `fewer`, `less`, `times` or `groups`, which name an operand). It is correct when N is the
  current value, or the value after the problem's next 1..k operations (a computation done in
  words, which then moves the current value past them); any other N is an error in that step.
* A run with `=` must read `E = N`: E is a number followed by 1 to 8 (operator, number) pairs
  and N one number. Anything else with `=` (`(3 + 4) = 7`, `3 + 4 = 7 = 7`) cannot be
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
"""

from __future__ import annotations

import operator
import re
from fractions import Fraction
from typing import Sequence

from prm.records import Problem

_MAX_CHAIN = 8  # operators in one claim

# One alternative per token kind, each with bounded repetition: linear in the text length.
_TOKEN = re.compile(
    r"(?P<num>[0-9]{1,3}(?:,[0-9]{3}){1,60}(?:\.[0-9]{1,30})?(?![0-9])|[0-9]{1,200}(?:\.[0-9]{1,30})?)"
    r"|(?P<op>[-+*/×·÷−]|\\times(?![a-zA-Z])|\\cdot(?![a-zA-Z])|\\div(?![a-zA-Z]))"
    r"|(?P<eq>=)"
    r"|(?P<word>[^\W\d_]{1,40})"
    r"|(?P<space>(?:[ \t\r\n$]|\\[()\[\]]){1,64})"
    r"|(?P<other>.)",
    re.DOTALL,
)
# Words that state the current value ("so Ann has 8"), and words after the number that make it
# an operand instead ("has 3 more").
_VALUE_WORDS = frozenset({"has", "have", "had"})
_OPERAND_WORDS = frozenset({"more", "fewer", "less", "times", "groups"})
_OPERATOR = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_OP_CANONICAL = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "·": "*", "x": "*", "X": "*",
                 "/": "/", "÷": "/", "\\times": "*", "\\cdot": "*", "\\div": "/"}


def apply_operation(left: Fraction, op: str, right: Fraction) -> Fraction:
    """left op right; "/" by zero raises ZeroDivisionError, which callers handle."""
    return _OPERATOR[op](left, right)


ERROR_KINDS = ("arithmetic", "wrong_operation", "wrong_value", "wrong_answer", "unverifiable")


def step_truth(problem: Problem, steps: Sequence[str]) -> list[bool]:
    """Per step: True when it and every step before it are correct (rules: module docstring)."""
    return judge_steps(problem, steps)[0]


def first_error_kind(problem: Problem, steps: Sequence[str]) -> str | None:
    """Why the first wrong step is wrong (one of ERROR_KINDS: a false equation, a true equation
    that is not the problem's next operation, a wrong stated value, a wrong final answer, a
    claim the checker cannot verify), or None when every step is right."""
    return judge_steps(problem, steps)[1]


def judge_steps(problem: Problem, steps: Sequence[str]) -> tuple[list[bool], str | None]:
    """(step_truth, first_error_kind) in one pass over the steps."""
    if isinstance(steps, str):
        raise ValueError(
            "step_truth takes a list of steps, got one str; split solution text with "
            "StepFormat().split(text, drop_empty=True)"
        )
    start_value, operations, answer = problem_facts(problem)
    value = start_value
    done = 0
    accepted: set[tuple] = set()
    truth: list[bool] = []
    all_good = True
    why: str | None = None
    for step in steps:
        if not isinstance(step, str):
            raise ValueError(f"steps must be str, got {type(step).__name__}")
        good = True
        reasons: list[str] = []
        for kind, payload in _claims(step):
            if kind == "answer":
                if payload != answer:
                    good = False
                    reasons.append("wrong_answer")
            elif kind == "value":
                reached = _reached(value, operations[done:], payload)
                if reached is None:
                    good = False
                    reasons.append("wrong_value")
                else:
                    value, done = payload, done + reached
            elif kind == "malformed":
                good = False
                reasons.append("unverifiable")
            else:
                numbers, ops, result = payload
                key = (tuple(numbers), tuple(ops), result)
                expected = operations[done : done + len(ops)]
                right = _equation_right(numbers, ops, result)
                if right and _follows(value, numbers, ops, expected):
                    accepted.add(key)
                    value = result
                    done += len(ops)
                elif key not in accepted:  # a restatement is right but does not move on
                    good = False
                    reasons.append("wrong_operation" if right else "arithmetic")
        if all_good and not good:
            why = reasons[0]
        all_good = all_good and good
        truth.append(all_good)
    return truth, why


def first_error(problem: Problem, steps: Sequence[str]) -> int:
    """Index of the first incorrect step of the solution, or -1 when every step is correct."""
    truth = step_truth(problem, steps)
    return truth.index(False) if False in truth else -1


def unverifiable_steps(steps: Sequence[str]) -> int:
    """How many steps hold a claim the checker cannot verify (judged an error by rule, not by
    arithmetic): what the checker cannot judge on a policy's own text."""
    return sum(any(kind == "malformed" for kind, _ in _claims(step)) for step in steps)


def problem_facts(problem: Problem) -> tuple[Fraction, list[tuple[str, Fraction]], Fraction]:
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


def _reached(value: Fraction, remaining: Sequence[tuple[str, Fraction]], stated: Fraction) -> int | None:
    """How many of the remaining operations a stated value has performed (0: the current
    value), or None when the correct computation does not reach it next."""
    if stated == value:
        return 0
    for count, (op, operand) in enumerate(remaining, start=1):
        try:
            value = apply_operation(value, op, operand)
        except ZeroDivisionError:
            return None
        if stated == value:
            return count
    return None


def _equation_right(numbers: list[Fraction], ops: list[str], result: Fraction) -> bool:
    """numbers[0] ops[0] numbers[1] ... == result under the usual precedence, exactly."""
    try:
        total, term = Fraction(0), numbers[0]
        sign = "+"
        for op, number in zip(ops, numbers[1:]):
            if op in "*/":
                term = apply_operation(term, op, number)
            else:
                total = apply_operation(total, sign, term)
                sign, term = op, number
        return apply_operation(total, sign, term) == result
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
    before_run: tuple | None = None  # the token just before the current run
    for index, token in enumerate(tokens):
        kind, text = token[0], token[1]
        if kind == "word" and text in ("x", "X") and run and run[-1][0] == "num":
            token = ("op", text, token[2], token[3])  # "3 x 4": x between numbers multiplies
            kind = "op"
        if kind in ("num", "op", "eq"):
            if not run:
                before_run = tokens[index - 1] if index > 0 else None
            run.append(token)
            continue
        if run:
            yield from _judge_run(run, named=before_run is not None and before_run[0] == "word")
            run = []
        if kind == "word" and text.lower() in _VALUE_WORDS:
            found = _signed_number(tokens, index + 1)
            if found is not None:
                after = tokens[found[1]] if found[1] < len(tokens) else ("end", "")
                if not (after[0] == "word" and after[1].lower() in _OPERAND_WORDS):
                    yield ("value", found[0])
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
        return Fraction(text.replace(",", "")), index + 1
    if kind == "op" and text in "-−+" and index + 1 < len(tokens):
        after = tokens[index + 1]
        if after[0] == "num" and after[2] == end:
            value = Fraction(after[1].replace(",", ""))
            return (-value if text != "+" else value), index + 2
    return None


def _judge_run(run: list[tuple], named: bool = False):
    if named and run[0][0] == "eq":
        # "apples = 3 + 4 = 7": the name's "=" is dropped; "apples = 7" states a value.
        run = run[1:]
        found = _signed_number(run, 0)
        if found is not None and found[1] == len(run):
            yield ("value", found[0])
            return
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
