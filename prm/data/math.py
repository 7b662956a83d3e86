"""MATH and MATH-500 reader: `{"problem", "solution", "answer"?, ...}` rows -> `Problem`.

Public: `read_math(path, on_error=..., report=...)`, `parse_math_rows(rows, ...)`.

The gold answer is the `answer` field where a row has one (MATH-500, PRM800K splits), else the
content of the last complete `\\boxed{}` in `solution` (Hendrycks MATH); a row with neither is
a bad record. The id is `unique_id` (`test/algebra/1.json`) when present. `level` (an int, or
"Level 3" in Hendrycks MATH, kept as given) and `subject`/`type` go to `meta`.
"""

from __future__ import annotations

from prm.data.errors import DataError, Location, require, require_text
from prm.data.io import file_reader, object_rows_parser
from prm.grading.boxed import last_boxed_content
from prm.records import Problem

_META_KEYS = ("level", "subject", "type")


def _parse_row(where: Location, row: dict, default_id: str) -> Problem:
    problem = require_text(where, row, "problem")
    solution = require(where, row, "solution", str)
    answer = require(where, row, "answer", (str, int, float), optional=True)
    if answer is None:
        answer = last_boxed_content(solution)
        if answer is None:
            raise DataError(
                where, "solution", "a complete \\boxed{...} final answer (or an 'answer' field)",
                solution[-60:], reason="no answer",
            )
        if not answer.strip():
            raise DataError(where, "solution", "a final answer inside the last \\boxed{}", solution[-60:],
                            reason="empty gold")
    elif not str(answer).strip():
        raise DataError(where, "answer", "a non-empty gold answer", answer, reason="empty gold")
    unique_id = require(where, row, "unique_id", str, optional=True)
    meta = {key: row[key] for key in _META_KEYS if row.get(key) is not None}
    return Problem(
        id=unique_id or default_id,
        question=problem,
        answer=str(answer).strip(),
        reference_solution=solution,
        source="math",
        meta=meta,
    )


parse_math_rows = object_rows_parser(
    _parse_row, "math", "Problems from (location, row) pairs; a row without `unique_id` gets `<id_prefix>-<index>`."
)
read_math = file_reader(
    parse_math_rows, "Problems of a MATH / MATH-500 jsonl (or json / parquet) file."
)
