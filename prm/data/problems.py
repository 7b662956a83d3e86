"""The toolkit's own problem rows: `Problem.to_dict()` written as JSON lines.

Public: `read_problems(path, on_error=..., report=...)`, `parse_problem_rows(rows, ...)`,
`write_problems(problems, path)`.

Row: `{"id": str, "question": str, "answer": str | null, "reference_solution"?: str,
"source"?: str, "meta"?: object}`. Synthetic problems keep what their step truth needs in
`meta`, so a problem file written here can be labelled, searched and checked later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prm.data.errors import DataError, Location, require, require_text
from prm.data.io import file_reader, object_rows_parser, write_jsonl
from prm.records import Problem


def _parse_row(where: Location, row: dict, default_id: str) -> Problem:
    question = require_text(where, row, "question")
    answer = require(where, row, "answer", (str, int, float), optional=True)
    if answer is not None and not str(answer).strip():
        raise DataError(where, "answer", "a non-empty gold answer (or null where there is none)", answer, reason="empty gold")
    meta = require(where, row, "meta", dict, optional=True)
    identifier = require(where, row, "id", (str, int), optional=True)
    return Problem(
        id=default_id if identifier is None else str(identifier),
        question=question,
        answer=None if answer is None else str(answer),
        reference_solution=require(where, row, "reference_solution", str, optional=True),
        source=require(where, row, "source", str, optional=True) or "",
        meta=meta or {},
    )


parse_problem_rows = object_rows_parser(
    _parse_row, "problems", "Problems from (location, row) pairs; a row without `id` gets `<id_prefix>-<index>`."
)
read_problems = file_reader(
    parse_problem_rows, "Problems of a file written by `write_problems` (or by hand in that shape)."
)


def write_problems(problems: Sequence[Problem], path: str | Path) -> Path:
    """Write problems as JSON lines (atomically: a temp file renamed into place)."""
    return write_jsonl((problem.to_dict() for problem in problems), path)
