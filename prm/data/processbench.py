"""ProcessBench reader: `{"id", "generator", "problem", "steps", "final_answer_correct", "label"}`
-> `StepwiseSolution`.

Public: `read_processbench(path, on_error=..., report=...)`, `parse_processbench_rows(rows, ...)`,
`processbench_labels(n_steps, label)`.

`label` is the 0-based index of the earliest wrong step, or -1 when no step is wrong. Labels:
1.0 before `label`, 0.0 at `label`, None after it (unsupervised); all 1.0 for -1. `meta` keeps
`generator`, `final_answer_correct`, `label` and `subset` (the file stem: gsm8k, math, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from prm.data.errors import DataError, Location, ReadReport, check_on_error, collect, require, require_object
from prm.data.io import iter_rows
from prm.records import Label, StepwiseSolution


def processbench_labels(n_steps: int, label: int) -> tuple[Label, ...]:
    """Per-step labels from ProcessBench's first-wrong-step index (-1 = all correct)."""
    if label == -1:
        return (1.0,) * n_steps
    return (1.0,) * label + (0.0,) + (None,) * (n_steps - label - 1)


def read_processbench(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> list[StepwiseSolution]:
    """Records of one ProcessBench split file (a JSON array)."""
    check_on_error(on_error)
    report = report if report is not None else ReadReport()
    rows = iter_rows(path, on_error, report)
    return parse_processbench_rows(rows, subset=Path(path).stem, on_error=on_error, report=report)


def parse_processbench_rows(
    rows: Iterable[tuple[Location, Any]],
    subset: str | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Records from (location, row) pairs."""
    check_on_error(on_error)
    report = report if report is not None else ReadReport()

    def parse(where: Location, row: Any) -> StepwiseSolution:
        row = require_object(where, row)
        record_id = require(where, row, "id", (str, int))
        problem = require(where, row, "problem", str)
        steps = require(where, row, "steps", list, expected="a non-empty list of strings")
        if not steps:
            raise DataError(where, "steps", "a non-empty list of strings", steps)
        for index, step in enumerate(steps):
            if not isinstance(step, str):
                raise DataError(where, f"steps[{index}]", "a string", step)
        label = require(where, row, "label", int)
        if not -1 <= label < len(steps):
            raise DataError(where, "label", f"-1 or a step index in 0..{len(steps) - 1}", label)
        correct = require(where, row, "final_answer_correct", bool)
        generator = require(where, row, "generator", str, optional=True)
        return StepwiseSolution(
            prompt=problem,
            steps=tuple(steps),
            labels=processbench_labels(len(steps), label),
            id=str(record_id),
            meta={"generator": generator, "final_answer_correct": correct, "label": label, "subset": subset},
        )

    return collect(rows, parse, on_error, report)
