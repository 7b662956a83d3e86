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

from prm.data.errors import DataError, Location, ReadReport, collect_objects, require, require_strings, require_text
from prm.data.io import read_with
from prm.records import Label, StepwiseSolution


def processbench_labels(n_steps: int, label: int) -> tuple[Label, ...]:
    """Per-step labels from ProcessBench's first-wrong-step index (-1 = all correct)."""
    if label == -1:
        return (1.0,) * n_steps
    return (1.0,) * label + (0.0,) + (None,) * (n_steps - label - 1)


def read_processbench(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> list[StepwiseSolution]:
    """Records of one ProcessBench split file (a JSON array)."""
    return read_with(parse_processbench_rows, path, on_error, report, subset=Path(path).stem)


def parse_processbench_rows(
    rows: Iterable[tuple[Location, Any]],
    subset: str | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Records from (location, row) pairs."""
    def parse(where: Location, row: dict, _: int) -> StepwiseSolution:
        record_id = require(where, row, "id", (str, int))
        problem = require_text(where, row, "problem")
        steps = require_strings(where, row, "steps", non_empty=True, blank_items=False)
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

    return collect_objects(rows, parse, on_error, report)
