"""MATH and MATH-500 reader: `{"problem", "solution", "answer"?, ...}` rows -> `Problem`.

Public: `read_math(path, on_error=..., report=...)`, `parse_math_rows(rows, ...)`.

The gold answer is the `answer` field where a row has one (MATH-500, PRM800K splits), else the
content of the last complete `\\boxed{}` in `solution` (Hendrycks MATH); a row with neither is
a bad record. The id is `unique_id` (`test/algebra/1.json`) when present. `level` (an int, or
"Level 3" in Hendrycks MATH, kept as given) and `subject`/`type` go to `meta`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from prm.data.errors import DataError, Location, ReadReport, check_on_error, collect, require, require_object
from prm.data.io import iter_rows
from prm.grading.boxed import last_boxed_content
from prm.records import Problem

_META_KEYS = ("level", "subject", "type")


def read_math(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> list[Problem]:
    """Problems of a MATH / MATH-500 jsonl (or json / parquet) file."""
    check_on_error(on_error)
    report = report if report is not None else ReadReport()
    rows = iter_rows(path, on_error, report)
    return parse_math_rows(rows, id_prefix=Path(path).stem, on_error=on_error, report=report)


def parse_math_rows(
    rows: Iterable[tuple[Location, Any]],
    id_prefix: str = "math",
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[Problem]:
    """Problems from (location, row) pairs; a row without `unique_id` gets `<id_prefix>-<index>`."""
    check_on_error(on_error)
    report = report if report is not None else ReadReport()
    counter = iter(range(1 << 62))

    def parse(where: Location, row: Any) -> Problem:
        index = next(counter)
        row = require_object(where, row)
        problem = require(where, row, "problem", str)
        if not problem.strip():
            raise DataError(where, "problem", "a non-empty string", problem)
        solution = require(where, row, "solution", str)
        answer = require(where, row, "answer", (str, int, float), optional=True)
        if answer is None:
            answer = last_boxed_content(solution)
            if answer is None:
                raise DataError(
                    where, "solution", "a complete \\boxed{...} final answer (or an 'answer' field)",
                    solution[-60:], reason="no answer",
                )
        unique_id = require(where, row, "unique_id", str, optional=True)
        meta = {key: row[key] for key in _META_KEYS if row.get(key) is not None}
        return Problem(
            id=unique_id or f"{id_prefix}-{index}",
            question=problem,
            answer=str(answer).strip(),
            reference_solution=solution,
            source="math",
            meta=meta,
        )

    return collect(rows, parse, on_error, report)
