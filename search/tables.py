"""Search results as pandas DataFrames: per-candidate rows and per-problem outcomes.

Public: `candidates_frame`, `outcomes_frame`, `read_candidates_frame`, `read_outcomes_frame`.

`candidates_frame(results)`: one row per sampled solution (problem_id, candidate, answer,
is_correct, num_tokens, finished, group_id, steps, step_scores, outcome_score and one column
per score key, "prm:min" ... "orm"). `outcomes_frame(results)`: one row per (problem, selection
rule), in tidy form: problem_id, gold, rule (the rules of `search.curves.curve_methods`: pass,
majority, rm:<key>, weighted:<key>), candidate (the pick, None for none), answer and correct,
so `frame.groupby("rule").correct.mean()` is each rule's accuracy at n. The readers take a
result file (`bon.jsonl`, `beam.jsonl`) as `prm search` writes it. pandas loads on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from search.best_of_n import select
from search.candidates import ProblemCandidates, candidate_score, read_jsonl, score_keys
from search.curves import curve_methods

CANDIDATE_COLUMNS = ("problem_id", "candidate", "answer", "is_correct", "num_tokens", "finished", "group_id",
                     "steps", "step_scores", "outcome_score")
OUTCOME_COLUMNS = ("problem_id", "gold", "rule", "candidate", "answer", "correct")


def candidates_frame(results: Sequence[ProblemCandidates]):
    """One row per candidate solution (see the module docstring)."""
    import pandas as pd

    keys = score_keys(results)
    rows = []
    for result in results:
        for index, candidate in enumerate(result.candidates):
            row: dict[str, Any] = {
                "problem_id": result.problem_id,
                "candidate": index,
                "answer": candidate.answer,
                "is_correct": candidate.is_correct,
                "num_tokens": candidate.num_tokens,
                "finished": candidate.finished,
                "group_id": result.group_ids[index] if len(result.group_ids) == len(result.candidates) else None,
                "steps": len(candidate.steps),
                "step_scores": None if candidate.step_scores is None else list(candidate.step_scores),
                "outcome_score": candidate.outcome_score,
            }
            row.update((key, candidate_score(candidate, key)) for key in keys)
            rows.append(row)
    return pd.DataFrame(rows, columns=[*CANDIDATE_COLUMNS, *keys])


def outcomes_frame(results: Sequence[ProblemCandidates]):
    """One row per (problem, selection rule): the pick, its answer and whether it is correct."""
    import pandas as pd

    rules = curve_methods(results) if results else []
    rows = []
    for result in results:
        for rule in rules:
            method, _, key = rule.partition(":")
            index = select(result, method, key or None)
            picked = None if index is None else result.candidates[index]
            rows.append({
                "problem_id": result.problem_id,
                "gold": result.gold,
                "rule": rule,
                "candidate": index,
                "answer": None if picked is None else picked.answer,
                "correct": picked is not None and picked.is_correct is True,
            })
    return pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))


def read_candidates_frame(path: str | Path):
    """`candidates_frame` of a result file (`bon.jsonl`, `beam.jsonl`)."""
    return candidates_frame(read_jsonl(path))


def read_outcomes_frame(path: str | Path):
    """`outcomes_frame` of a result file (`bon.jsonl`, `beam.jsonl`)."""
    return outcomes_frame(read_jsonl(path))
