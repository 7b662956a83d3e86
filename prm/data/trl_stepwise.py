"""TRL step-wise reader: `{"prompt", "completions", "labels", ...}` rows -> `StepwiseSolution`.

Public: `read_trl_stepwise(path, on_error=..., report=...)`, `parse_trl_stepwise_rows(rows, ...)`.

The Hugging Face step-supervision format (TRL `PRMTrainer`), in .jsonl, .json or .parquet.
Labels are bools or numbers in [0, 1] (or null for an unsupervised step); `labels` may be absent
(unlabelled solutions). Other keys (`id`, `answer`, `mc_values`, ...) are kept as
`StepwiseSolution.from_dict` keeps them. This is also the format the toolkit writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

from prm.data.errors import DataError, Location, ReadReport, collect_objects, require, require_strings, require_text
from prm.data.io import read_with
from prm.records import StepwiseSolution

_LABEL = "true/false, a number in [0, 1] or null"


def read_trl_stepwise(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> list[StepwiseSolution]:
    """Records of a step-wise file."""
    return read_with(parse_trl_stepwise_rows, path, on_error, report)


def parse_trl_stepwise_rows(
    rows: Iterable[tuple[Location, Any]],
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Records from (location, row) pairs."""
    def parse(where: Location, row: dict, _: int) -> StepwiseSolution:
        require_text(where, row, "prompt")
        completions = require_strings(where, row, "completions", blank_items=False)
        labels = require(where, row, "labels", list, optional=True, expected="a list with one label per completion")
        if labels is not None:
            if len(labels) != len(completions):
                raise DataError(where, "labels", f"one label per completion ({len(completions)})", f"{len(labels)} labels", reason="label count")
            for index, value in enumerate(labels):
                ok = value is None or isinstance(value, bool) or (
                    isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0
                )
                if not ok:
                    raise DataError(where, f"labels[{index}]", _LABEL, value, reason="bad field 'labels'")
        try:
            return StepwiseSolution.from_dict(row)
        except ValueError as error:
            raise DataError(where, None, "a valid step-wise row", reason="bad record", detail=str(error)) from None

    return collect_objects(rows, parse, on_error, report)
