"""Labelled solutions as pandas DataFrames: one row per solution, or one per step.

Public: `labels_frame`, `steps_frame`, `read_labels_frame`, `read_steps_frame`.

`labels_frame(rows)` takes the rows `prm label` writes (and `prm.api.label` returns): id,
problem_id, correct, method, steps, labelled_steps (steps with a label), good_steps (labels
true or > 0.5), first_error, rollouts_drawn, solution_tokens, rollout_tokens, generated_tokens,
seconds; a field a row lacks is missing (None/NaN). `steps_frame(rows)`: id, problem_id, step
(0-based), text, label, mc_value, rollouts and rollouts_excluded per step. The readers take a
labels file (the strict reader of `labeling.store`). pandas loads on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from labeling.store import read_rows

SOLUTION_COLUMNS = ("id", "problem_id", "correct", "method", "steps", "labelled_steps", "good_steps", "first_error",
                    "rollouts_drawn", "solution_tokens", "rollout_tokens", "generated_tokens", "seconds")
STEP_COLUMNS = ("id", "problem_id", "step", "text", "label", "mc_value", "rollouts", "rollouts_excluded")
_COPIED = ("id", "problem_id", "correct", "method", "first_error", "rollouts_drawn", "solution_tokens",
           "rollout_tokens", "generated_tokens", "seconds")


def _good(label: Any) -> bool:
    return label is True or (not isinstance(label, bool) and isinstance(label, (int, float)) and label > 0.5)


def labels_frame(rows: Sequence[Mapping[str, Any]]):
    """One row per labelled solution (see the module docstring)."""
    import pandas as pd

    table = []
    for row in rows:
        labels = row.get("labels") or []
        known = [label for label in labels if label is not None]
        table.append({**{key: row.get(key) for key in _COPIED}, "steps": len(row.get("completions", ())),
                      "labelled_steps": len(known), "good_steps": sum(_good(label) for label in known)})
    return pd.DataFrame(table, columns=list(SOLUTION_COLUMNS))


def steps_frame(rows: Sequence[Mapping[str, Any]]):
    """One row per step of every labelled solution (see the module docstring)."""
    import pandas as pd

    table = []
    for row in rows:
        steps = row.get("completions", ())
        per_step = {name: row.get(field) or [None] * len(steps)
                    for name, field in (("label", "labels"), ("mc_value", "mc_values"), ("rollouts", "rollouts"),
                                        ("rollouts_excluded", "rollouts_excluded"))}
        for index, text in enumerate(steps):
            table.append({"id": row.get("id"), "problem_id": row.get("problem_id"), "step": index, "text": text,
                          **{name: values[index] if index < len(values) else None for name, values in per_step.items()}})
    return pd.DataFrame(table, columns=list(STEP_COLUMNS))


def read_labels_frame(path: str | Path):
    """`labels_frame` of a labels file (`prm label --out`)."""
    return labels_frame(_rows(path))


def read_steps_frame(path: str | Path):
    """`steps_frame` of a labels file (`prm label --out`)."""
    return steps_frame(_rows(path))


def _rows(path: str | Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found; write labels with `prm label --out {path}`")
    return read_rows(path)
