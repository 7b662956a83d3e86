"""The records search produces: sampled solutions with their answers, grades and scores.

Public: `SearchSetup`, `Candidate`, `ProblemCandidates`, `make_candidate`, `score_keys`,
`candidate_score`, `write_jsonl`, `read_jsonl`.

A `ProblemCandidates` row holds every solution a method produced for one problem (N samples for
best-of-n, the finished beams for beam search) with everything selection needs, so that rm@k,
maj@k, weighted@k and pass@k can all be computed afterwards from one run, without a model.

Score keys name where a solution score comes from: `"prm:min"`, `"prm:prod"`, `"prm:last"`,
`"prm:mean"` (PRM step scores under that aggregation) and `"orm"` (the outcome scorer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from prm.records import Verdict
from prm.scores import AGGREGATIONS, aggregate
from prm.steps import StepFormat

ExtractAnswer = Callable[[str], "str | None"]
# grade(gold, pred) -> a Verdict (a bool or None is read as one, by Verdict.of).
GradeAnswer = Callable[[str, str], Verdict]


@dataclass(frozen=True)
class SearchSetup:
    """What every search method is handed beside problems, engine, scorer and its config.

    prompt_for(problem): the policy prompt. extract_answer / grade: read and grade a solution's
    final answer. step_format: splits policy text into steps (and stops a beam step).
    count_scorer_tokens(prompt, steps): tokens the scorer reads for one prefix (None: not
    counted; a scorer that keeps states counts its own). on_batch(problems_done): progress.
    reuse_scorer_states: grow each scored prefix's scorer state (its KV cache) by the new step
    where the scorer can (`search.prefix_scores`); False reads every prefix whole.
    """

    prompt_for: Callable[[Any], str]
    extract_answer: ExtractAnswer
    grade: GradeAnswer
    step_format: StepFormat
    count_scorer_tokens: Callable[[str, Sequence[str]], int] | None = None
    on_batch: Callable[[int], None] | None = None
    reuse_scorer_states: bool = True


@dataclass(frozen=True)
class Candidate:
    """One solution to a problem.

    steps: the solution split by the StepFormat (stripped, blank steps dropped).
    answer: the extracted final answer, or None when none could be found.
    num_tokens: tokens the policy generated for this solution.
    is_correct: the grade against the gold answer as the record field (`Verdict.as_bool`: None
    when it could not be graded); `verdict` gives it back as a Verdict.
    step_scores: PRM probabilities, one per step, or None when no PRM scored it.
    outcome_score: ORM probability, or None when no ORM scored it.
    finished: False for a solution cut off by a budget (length, beam-search step limit).
    """

    text: str
    steps: tuple[str, ...]
    answer: str | None
    num_tokens: int
    is_correct: bool | None = None
    step_scores: tuple[float, ...] | None = None
    outcome_score: float | None = None
    finished: bool = True

    @property
    def verdict(self) -> Verdict:
        return Verdict.of(self.is_correct)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Candidate":
        scores = row.get("step_scores")
        return cls(
            text=row["text"],
            steps=tuple(row["steps"]),
            answer=row.get("answer"),
            num_tokens=int(row["num_tokens"]),
            is_correct=row.get("is_correct"),
            step_scores=None if scores is None else tuple(float(s) for s in scores),
            outcome_score=row.get("outcome_score"),
            finished=bool(row.get("finished", True)),
        )


@dataclass(frozen=True)
class ProblemCandidates:
    """All solutions one method produced for one problem.

    prompt: the question as the reward models see it (not the policy's templated prompt).
    group_ids: per candidate, its answer group under the grader's equivalence (-1: no answer);
        empty until `search.voting.AnswerGrouper.group` has run.
    generated_tokens: the policy tokens this problem cost in all (for beam search this counts
        pruned branches too, so it is more than the sum over the kept candidates).
    meta: compute accounting and method details (scored prefixes, rounds, ...).
    """

    problem_id: str
    prompt: str
    gold: str | None
    candidates: tuple[Candidate, ...]
    group_ids: tuple[int, ...] = ()
    generated_tokens: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["meta"] = dict(self.meta)
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "ProblemCandidates":
        return cls(
            problem_id=str(row["problem_id"]),
            prompt=row["prompt"],
            gold=row.get("gold"),
            candidates=tuple(Candidate.from_dict(c) for c in row["candidates"]),
            group_ids=tuple(int(g) for g in row.get("group_ids", ())),
            generated_tokens=int(row.get("generated_tokens", 0)),
            meta=dict(row.get("meta", {})),
        )


def make_candidate(
    text: str,
    num_tokens: int,
    gold: str | None,
    extract_answer: ExtractAnswer,
    grade: GradeAnswer,
    step_format: StepFormat,
    finished: bool = True,
    steps: Sequence[str] | None = None,
) -> Candidate:
    """A candidate with its steps, extracted answer and grade (None where ungradable)."""
    if steps is None:
        steps = step_format.split(text, drop_empty=True)
    answer = extract_answer(text)
    if gold is None:
        verdict = Verdict.UNGRADABLE
    elif answer is None:
        verdict = Verdict.INCORRECT  # no answer is a wrong answer, not an ungradable one
    else:
        verdict = Verdict.of(grade(gold, answer))
    return Candidate(
        text=text,
        steps=tuple(steps),
        answer=answer,
        num_tokens=int(num_tokens),
        is_correct=verdict.as_bool(),
        finished=finished,
    )


def score_keys(results: Iterable[ProblemCandidates]) -> list[str]:
    """The score keys every candidate of every problem has ("prm:<agg>" and/or "orm")."""
    candidates = [c for r in results for c in r.candidates]
    if not candidates:
        return []
    keys: list[str] = []
    if all(c.step_scores is not None for c in candidates):
        keys.extend(f"prm:{how}" for how in AGGREGATIONS)
    if all(c.outcome_score is not None for c in candidates):
        keys.append("orm")
    return keys


def candidate_score(candidate: Candidate, key: str) -> float:
    """The solution score under a score key (see module docstring); unknown keys raise."""
    if key == "orm":
        if candidate.outcome_score is None:
            raise ValueError("score key 'orm' needs outcome scores; run with an ORM (--orm)")
        return float(candidate.outcome_score)
    if key.startswith("prm:") and key[4:] in AGGREGATIONS:
        if candidate.step_scores is None:
            raise ValueError(f"score key {key!r} needs PRM step scores; run with a PRM (--prm)")
        return aggregate(candidate.step_scores, key[4:])
    allowed = ", ".join([f"prm:{a}" for a in AGGREGATIONS] + ["orm"])
    raise ValueError(f"unknown score key {key!r}; choose one of {allowed}")


def write_jsonl(results: Iterable[ProblemCandidates], path: str | Path) -> int:
    """Write one JSON line per problem, atomically (`prm.data.io.write_jsonl`); returns the count."""
    from prm.data.io import write_jsonl as write_rows

    rows = [result.to_dict() for result in results]
    write_rows(rows, path)
    return len(rows)


def read_jsonl(path: str | Path) -> list[ProblemCandidates]:
    """Read what `write_jsonl` wrote, by the strict reader of `prm.data.io`; a bad line raises
    a `DataError` naming the file and line, and so does a file with no rows."""
    from prm.data.errors import DataError, Location
    from prm.data.io import iter_rows

    results = []
    for where, row in iter_rows(path):
        if not isinstance(row, dict):
            raise DataError(where, None, "a search result row (a JSON object)", type(row).__name__, reason="not an object")
        try:
            results.append(ProblemCandidates.from_dict(row))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DataError(where, None, "a search result row (as `prm search` writes them to bon.jsonl)",
                            detail=f"no field {error}" if isinstance(error, KeyError) else str(error),
                            reason="not a search result") from None
    if not results:
        raise DataError(Location(str(path)), None, "search result rows (prm search writes them to OUT/bon.jsonl)",
                        detail="an empty file", reason="empty file")
    return results
