"""The records every reader produces and every stage consumes.

Public: `Verdict`, `Problem`, `StepwiseSolution`, `PreferencePair`, `hard_label`, `first_error_index`.

A `StepwiseSolution` is the Hugging Face step-supervision row
(`{"prompt", "completions", "labels", ...}`) as a frozen dataclass: `steps` are the
completions, `labels` hold one value per step in [0, 1] (1.0 = the step is good, 0.0 = bad,
in between = a soft Monte Carlo value) or `None` where a step carries no supervision (after
the first error in ProcessBench, or a neutral PRM800K rating under the `drop` policy).

A `PreferencePair` is two solutions to one prompt, the better one first, each a list of steps:
labeling writes it (`prm label --pairs-out`), `orm.read_pairs` reads it for Bradley-Terry.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

Label = float | None


class Verdict(str, enum.Enum):
    """Tri-state outcome of grading one answer against a gold answer: the one vocabulary of
    the grader (`prm.grading`), labeling (a solution's or a rollout's outcome) and search.
    UNGRADABLE covers no gradable answer, a grading timeout and a rollout cut at the length limit."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNGRADABLE = "ungradable"

    @classmethod
    def of(cls, value: Any) -> Verdict:
        """A Verdict from a Verdict, its value, a GradeResult-like object (`.verdict`), a bool
        (True = correct) or None (ungradable)."""
        if value is None:
            return cls.UNGRADABLE
        if isinstance(value, bool):
            return cls.CORRECT if value else cls.INCORRECT
        value = getattr(value, "verdict", value)
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(v.value for v in cls)
            raise ValueError(f"cannot read a verdict from {value!r}; give a Verdict ({allowed}), a bool or None") from None

    def as_bool(self) -> bool | None:
        """True / False, or None when ungradable: the on-disk `correct` field."""
        return None if self is Verdict.UNGRADABLE else self is Verdict.CORRECT


@dataclass(frozen=True)
class Problem:
    """A math question with its gold final answer (None where the source has none)."""

    id: str
    question: str
    answer: str | None
    reference_solution: str | None = None
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.question, str) or not self.question:
            raise ValueError(f"Problem.question must be a non-empty str, got {self.question!r}")

    def to_dict(self) -> dict[str, Any]:
        """The on-disk problem row (the `problems` format of `prm.data`)."""
        row: dict[str, Any] = {"id": self.id, "question": self.question, "answer": self.answer}
        if self.reference_solution is not None:
            row["reference_solution"] = self.reference_solution
        if self.source:
            row["source"] = self.source
        if self.meta:
            row["meta"] = dict(self.meta)
        return row


def _row_with(row: dict[str, Any], meta: Mapping[str, Any], **optional: Any) -> dict[str, Any]:
    """row, then each optional field that is not None (in order), then the meta keys the row
    does not already hold (an on-disk row keeps its extra keys flat)."""
    row.update((key, value) for key, value in optional.items() if value is not None)
    for key, value in meta.items():
        row.setdefault(key, value)
    return row


def _check_label(index: int, value: Any) -> Label:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number) or not 0.0 <= number <= 1.0:
            raise ValueError(f"labels[{index}] must be a bool or a number in [0, 1], got {value!r}")
        return number
    raise ValueError(f"labels[{index}] must be a bool, a number in [0, 1] or None, got {value!r}")


@dataclass(frozen=True)
class StepwiseSolution:
    """One solution split into steps, with optional per-step labels.

    prompt: the question as shown to the model.
    steps: the solution's steps, without delimiters or tags.
    labels: None (unlabelled) or one value per step, each in [0, 1] or None.
    answer: the gold final answer, when known.
    meta: anything else a source carries (`mc_values`, rollout counts, generator, ...).
    """

    prompt: str
    steps: tuple[str, ...]
    labels: tuple[Label, ...] | None = None
    id: str | None = None
    answer: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise ValueError(f"prompt must be a str, got {type(self.prompt).__name__}")
        steps = tuple(self.steps)
        for index, step in enumerate(steps):
            if not isinstance(step, str):
                raise ValueError(f"steps[{index}] must be a str, got {type(step).__name__}")
        object.__setattr__(self, "steps", steps)
        if self.labels is not None:
            labels = tuple(_check_label(i, v) for i, v in enumerate(self.labels))
            if len(labels) != len(steps):
                raise ValueError(
                    f"labels has {len(labels)} values but there are {len(steps)} steps; "
                    "give one label per step (None for an unsupervised step)"
                )
            object.__setattr__(self, "labels", labels)

    @property
    def is_soft(self) -> bool:
        """True when any label lies strictly between 0 and 1."""
        return any(v is not None and 0.0 < v < 1.0 for v in self.labels or ())

    def first_error_index(self, threshold: float = 0.5) -> int:
        """Index of the first step labelled below `threshold`, or -1 (ProcessBench convention)."""
        return first_error_index(self.labels or (), threshold)

    def to_dict(self) -> dict[str, Any]:
        """The on-disk step-wise row: prompt/completions/labels plus id, answer and meta."""
        row: dict[str, Any] = {"prompt": self.prompt, "completions": list(self.steps)}
        if self.labels is not None:
            soft = self.is_soft
            row["labels"] = [
                None if v is None else (v if soft else v >= 0.5) for v in self.labels
            ]
        return _row_with(row, self.meta, id=self.id, answer=self.answer)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "StepwiseSolution":
        """Inverse of `to_dict`; unknown keys go to `meta`. Raises ValueError on a bad row."""
        for key in ("prompt", "completions"):
            if key not in row:
                raise ValueError(f"missing field {key!r} (expected prompt, completions, labels)")
        completions = row["completions"]
        if not isinstance(completions, Sequence) or isinstance(completions, str):
            raise ValueError(f"field 'completions' must be a list of str, got {type(completions).__name__}")
        labels = row.get("labels")
        if labels is not None and (not isinstance(labels, Sequence) or isinstance(labels, str)):
            raise ValueError(f"field 'labels' must be a list, got {type(labels).__name__}")
        known = {"prompt", "completions", "labels", "id", "answer"}
        rid = row.get("id")
        return cls(
            prompt=row["prompt"],
            steps=tuple(completions),
            labels=None if labels is None else tuple(labels),
            id=None if rid is None else str(rid),
            answer=None if row.get("answer") is None else str(row["answer"]),
            meta={k: v for k, v in row.items() if k not in known},
        )


def hard_label(value: Label, threshold: float = 0.5) -> bool | None:
    """A soft label as good/bad; None stays None."""
    return None if value is None else value >= threshold


def first_error_index(labels: Sequence[Label], threshold: float = 0.5) -> int:
    """Index of the first label under `threshold` (None labels are skipped), or -1."""
    for index, value in enumerate(labels):
        if value is not None and value < threshold:
            return index
    return -1


@dataclass(frozen=True)
class PreferencePair:
    """prompt: the question; chosen / rejected: the steps of the better / worse solution."""

    prompt: str
    chosen: tuple[str, ...]
    rejected: tuple[str, ...]
    id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise ValueError(f"prompt must be a str, got {type(self.prompt).__name__}")
        for name in ("chosen", "rejected"):
            steps = getattr(self, name)
            if isinstance(steps, str) or not isinstance(steps, Sequence):
                raise ValueError(f"{name} must be a list of steps (str), got {type(steps).__name__}")
            steps = tuple(steps)
            if not steps or not all(isinstance(s, str) for s in steps):
                raise ValueError(f"{name} must be a non-empty list of str steps, got {steps!r}")
            object.__setattr__(self, name, steps)

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"prompt": self.prompt, "chosen": list(self.chosen), "rejected": list(self.rejected)}
        return _row_with(row, self.meta, id=self.id)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "PreferencePair":
        """Inverse of `to_dict`; raises ValueError naming a missing or bad field."""
        for key in ("prompt", "chosen", "rejected"):
            if key not in row:
                raise ValueError(f"missing field {key!r} (a pair has prompt, chosen, rejected)")
        known = {"prompt", "chosen", "rejected", "id"}
        return cls(
            prompt=row["prompt"],
            chosen=row["chosen"],
            rejected=row["rejected"],
            id=None if row.get("id") is None else str(row["id"]),
            meta={k: v for k, v in row.items() if k not in known},
        )
