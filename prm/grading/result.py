"""The grading verdict types.

Public: `GradeResult`; `Verdict` (defined in `prm.records`) re-exported.
"""

from __future__ import annotations

from dataclasses import dataclass

from prm.records import Verdict

__all__ = ["GradeResult", "Verdict"]


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
