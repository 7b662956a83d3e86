"""The grading verdict types.

Public: `Verdict`, `GradeResult`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(str, enum.Enum):
    """Tri-state outcome of grading one answer against a gold answer."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNGRADABLE = "ungradable"


@dataclass(frozen=True)
class GradeResult:
    """A verdict with a short human-readable reason (e.g. "timeout after 2.0 s")."""

    verdict: Verdict
    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, Verdict):
            object.__setattr__(self, "verdict", Verdict(self.verdict))
        if not isinstance(self.reason, str):
            raise ValueError(f"GradeResult.reason must be a str, got {type(self.reason).__name__}")

    @property
    def is_correct(self) -> bool:
        return self.verdict is Verdict.CORRECT
