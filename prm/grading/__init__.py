"""Answer extraction and equivalence grading: safe, bounded, tri-state.

Public: `grade(gold, pred)`, `grade_solution(gold, solution_text)`, `extract_answer(text)`,
`Grader` (owns the killable worker processes; `grade_many` for throughput), `GraderConfig`,
`Verdict`, `GradeResult`, `last_boxed_content(text)`.

Importing this package starts nothing and does not import sympy; see prm.grading.grader for how
each call is bounded and docs/grading.md for the agreement with peer graders.
"""

from prm.grading.boxed import last_boxed_content
from prm.grading.extract import extract_answer
from prm.grading.grader import Grader, GraderConfig, grade, grade_solution
from prm.grading.result import GradeResult, Verdict

__all__ = [
    "GradeResult",
    "Grader",
    "GraderConfig",
    "Verdict",
    "extract_answer",
    "grade",
    "grade_solution",
    "last_boxed_content",
]
