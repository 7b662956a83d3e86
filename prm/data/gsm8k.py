"""GSM8K reader: `{"question", "answer"}` rows -> `Problem`.

Public: `read_gsm8k(path, on_error=..., report=...)`, `parse_gsm8k_rows(rows, ...)`,
`gsm8k_gold(answer_text)`, `solution_steps(reference_solution, answer)`.

The gold answer is the text after the last `####`, stripped, with thousands separators
removed (`2,125` -> `2125`; `-3` stays `-3`). The worked solution before `####` (calculator
annotations `<<...>>` kept) becomes `reference_solution`. The paper's
`example_model_solutions.jsonl` (`question`, `ground_truth` ending in `A: <answer>`, and four
model solutions) is read too: its model solutions go to `meta`. `solution_steps` turns a
reference solution into the steps a policy is fine-tuned on: one step per line, calculator
annotations removed, and a last step stating the answer as `\\boxed{...}` (what the prompt asks
for and what the grader reads).
"""

from __future__ import annotations

import re
from typing import Any

from prm.data.errors import DataError, Location, require, require_text
from prm.data.io import file_reader, object_rows_parser
from prm.records import Problem

_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_MODEL_SOLUTION_KEYS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def gsm8k_gold(answer_text: str) -> str | None:
    """The final answer after the last `####`, without thousands separators; None if absent."""
    marker = answer_text.rfind("####")
    if marker < 0:
        return None
    return _strip_thousands(answer_text[marker + 4 :].strip())


_CALCULATOR = re.compile(r"<<[^<>]*>>")


def solution_steps(reference_solution: str, answer: str | None) -> list[str]:
    """One step per non-empty line, `<<48/2=24>>` annotations removed, then "The answer is
    \\boxed{answer}." when the answer is known."""
    steps = [" ".join(_CALCULATOR.sub("", line).split()) for line in reference_solution.splitlines()]
    steps = [step for step in steps if step]
    if answer is not None:
        steps.append(f"The answer is \\boxed{{{answer}}}.")
    return steps


def _strip_thousands(answer: str) -> str:
    return answer.replace(",", "") if _THOUSANDS.match(answer) else answer


def _parse_row(where: Location, row: dict, default_id: str) -> Problem:
    question = require_text(where, row, "question")
    if "answer" not in row and "ground_truth" in row:
        return _model_solutions_row(where, row, question, default_id)
    answer_text = require(where, row, "answer", str)
    marker = answer_text.rfind("####")
    if marker < 0:
        raise DataError(where, "answer", "a solution ending in '#### <final answer>'", answer_text[-60:])
    if answer_text.count("####") > 1:
        raise DataError(where, "answer", "one '#### <final answer>' marker (which one is the gold?)",
                        answer_text[-60:], reason="two '####' markers")
    gold = _strip_thousands(answer_text[marker + 4 :].strip())
    if not gold:
        raise DataError(where, "answer", "a final answer after '####'", answer_text[-60:])
    return Problem(
        id=default_id,
        question=question,
        answer=gold,
        reference_solution=answer_text[:marker].rstrip(),
        source="gsm8k",
    )


parse_gsm8k_rows = object_rows_parser(
    _parse_row, "gsm8k", "Problems from (location, row) pairs; ids are `<id_prefix>-<0-based row index>`."
)
read_gsm8k = file_reader(
    parse_gsm8k_rows, "Problems of a GSM8K jsonl file (train/test/socratic or example_model_solutions)."
)


def _model_solutions_row(where: Location, row: dict, question: str, problem_id: str) -> Problem:
    truth = require(where, row, "ground_truth", str)
    body, _, last = truth.rpartition("\n")
    if not last.startswith("A:") or not last[2:].strip():
        raise DataError(where, "ground_truth", "a solution whose last line is 'A: <final answer>'", last)
    meta: dict[str, Any] = {}
    for key in _MODEL_SOLUTION_KEYS:
        value = require(where, row, key, dict, optional=True)
        if value is None:
            continue
        if not isinstance(value.get("solution"), str) or not isinstance(value.get("is_correct"), bool):
            raise DataError(where, key, "an object with 'solution' (string) and 'is_correct' (bool)", value)
        meta[key] = value
    return Problem(
        id=problem_id,
        question=question,
        answer=_strip_thousands(last[2:].strip()),
        reference_solution=body,
        source="gsm8k",
        meta=meta,
    )
