"""PRM800K raw label files (phase 1 / phase 2 jsonl) -> `StepwiseSolution`.

Public: `PRM800KPolicy`, `read_prm800k(path, policy=..., on_error=..., report=...)`,
`parse_prm800k_rows(rows, ...)`, `rating_label(rating, policy)`.

One record per labelled trajectory, along the steps the labeler kept:
- at each step the chosen candidate is `completions[chosen_completion]`; a `chosen_completion`
  out of range is a bad record (policy `chosen_out_of_range="reject"`, the default) or is noted
  and treated as null (`"human"`); where it is null the labeler's own
  `human_completion` (a dict with `text` and a usually null `rating`) is the step;
- a step with neither ends the trajectory there. When `finish_reason == "found_error"` the first
  candidate of that step rated -1 is appended as the final, wrong step (the error the labeler
  found); otherwise the trajectory ends before that step. A step with `completions: null` ends
  it too, and any steps after the end are ignored (each case is counted in `report.notes`).
- Rejected candidates are never continued. With `alternatives=True` each rated candidate that
  was not chosen also becomes its own record: the chosen steps before it plus that candidate
  (one record per candidate, never a cartesian product); its id ends in `/alt-<step>-<index>`.

Labels come from ratings: +1 -> 1.0, -1 -> 0.0, 0 -> by `neutral` ("positive" 1.0,
"negative" 0.0, "drop" None), null -> by `unrated` (same choices, default "drop").
`cut_at_first_error` keeps each record only up to and including its first 0.0 step.
Records: `finish_reason == "bad_problem"` skipped by default, initial-screening questions
(generation -1 or `is_initial_screening_question`) skipped by default, quality-control
questions kept by default; every skip is counted. The raw ratings per step are kept in
`meta["ratings"]` and which steps were the labeler's own in `meta["human"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from prm.data.errors import DataError, Location, ReadReport, handle, report_for, require, require_object
from prm.data.io import read_with
from prm.records import Label, StepwiseSolution, first_error_index

FINISH_REASONS = ("solution", "found_error", "give_up", "bad_problem")
RATING_POLICIES = ("positive", "negative", "drop")
RECORD_POLICIES = ("skip", "keep")
_POLICY_VALUE = {"positive": 1.0, "negative": 0.0, "drop": None}


@dataclass(frozen=True)
class PRM800KPolicy:
    """How PRM800K ratings become labels and which records are kept.

    neutral: label of a 0 rating: "positive" (1.0), "negative" (0.0) or "drop" (None).
    unrated: label of a null rating (human steps, never-rated candidates), same choices.
    cut_at_first_error: end each record at its first 0.0-labelled step (inclusive).
    alternatives: also emit every rated, non-chosen candidate as chosen prefix + candidate.
        On by default: in phase 1 almost every bad step is a rejected candidate, so the chosen
        path alone carries (nearly) no negative label to learn from.
    bad_problem / initial_screening / quality_control: "skip" or "keep" such records
        (raw files only; the step-wise critic format does not carry these fields).
    chosen_out_of_range: a `chosen_completion` past the step's candidates: "reject" (a bad
        record) or "human" (noted; the step falls back to the labeler's own completion).
    """

    neutral: str = "positive"
    unrated: str = "drop"
    cut_at_first_error: bool = False
    alternatives: bool = True
    bad_problem: str = "skip"
    initial_screening: str = "skip"
    quality_control: str = "keep"
    chosen_out_of_range: str = "reject"

    def __post_init__(self) -> None:
        for name in ("neutral", "unrated"):
            _check_choice(name, getattr(self, name), RATING_POLICIES)
        for name in ("bad_problem", "initial_screening", "quality_control"):
            _check_choice(name, getattr(self, name), RECORD_POLICIES)
        _check_choice("chosen_out_of_range", self.chosen_out_of_range, ("reject", "human"))
        for name in ("cut_at_first_error", "alternatives"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"PRM800KPolicy.{name} must be True or False, got {getattr(self, name)!r}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"PRM800KPolicy.{name} must be one of {', '.join(allowed)}, got {value!r}")


def rating_label(rating: int | None, policy: PRM800KPolicy) -> Label:
    """The label of one PRM800K rating (-1, 0, +1 or None) under `policy`."""
    if rating == 1:
        return 1.0
    if rating == -1:
        return 0.0
    if rating == 0:
        return _POLICY_VALUE[policy.neutral]
    return _POLICY_VALUE[policy.unrated]


def check_rating(where: Location, field: str, value: Any) -> int | None:
    """A rating must be -1, 0, 1 or null (a bool or 1.0 is rejected)."""
    if value is None or (type(value) is int and value in (-1, 0, 1)):
        return value
    raise DataError(where, field, "a rating of -1, 0, 1 or null", value, reason="bad rating")


def finish_record(
    steps: list[str], ratings: list[int | None], policy: PRM800KPolicy, report: ReadReport
) -> tuple[list[str], list[int | None], list[Label]]:
    """Labels for `ratings`, and the cut at the first error when the policy asks for it."""
    labels = [rating_label(r, policy) for r in ratings]
    if policy.cut_at_first_error:
        first = first_error_index(labels)
        if first >= 0 and first + 1 < len(steps):
            report.note("records cut at the first error")
            steps, ratings, labels = steps[: first + 1], ratings[: first + 1], labels[: first + 1]
    return steps, ratings, labels


def read_prm800k(
    path: str | Path,
    policy: PRM800KPolicy | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Trajectories of a raw PRM800K jsonl (or a .json holding one or more raw records)."""
    return read_with(parse_prm800k_rows, path, on_error, report, policy=policy, id_prefix=Path(path).stem)


def parse_prm800k_rows(
    rows: Iterable[tuple[Location, Any]],
    policy: PRM800KPolicy | None = None,
    id_prefix: str = "prm800k",
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Trajectories from (location, raw record) pairs; ids are `<id_prefix>-<line>`."""
    policy = policy if policy is not None else PRM800KPolicy()
    report = report_for(on_error, report)
    records: list[StepwiseSolution] = []
    for where, row in rows:
        try:
            records.extend(_parse_record(where, row, policy, f"{id_prefix}-{where.line}", report))
        except DataError as error:
            handle(error, on_error, report)
    report.records += len(records)
    return records


def _parse_record(where: Location, row: Any, policy: PRM800KPolicy, record_id: str, report: ReadReport) -> list[StepwiseSolution]:
    row = require_object(where, row)
    question = require(where, row, "question", dict)
    problem = require(where, question, "problem", str, name="question.problem")
    if not problem.strip():
        raise DataError(where, "question.problem", "a non-empty string", problem, reason="empty field 'question.problem'")
    gold = require(where, question, "ground_truth_answer", (str, int, float), optional=True, name="question.ground_truth_answer")
    label = require(where, row, "label", dict)
    finish_reason = require(where, label, "finish_reason", str, name="label.finish_reason")
    if finish_reason not in FINISH_REASONS:
        raise DataError(where, "label.finish_reason", f"one of {', '.join(FINISH_REASONS)}", finish_reason)
    steps = require(where, label, "steps", list, name="label.steps")
    generation = require(where, row, "generation", int, optional=True)
    screening = require(where, row, "is_initial_screening_question", bool, optional=True)
    quality = require(where, row, "is_quality_control_question", bool, optional=True)
    parsed = [_parse_step(where, index, step) for index, step in enumerate(steps)]
    if policy.chosen_out_of_range == "reject":
        for index, (candidates, _, chosen) in enumerate(parsed):
            if chosen is not None and not 0 <= chosen < len(candidates or ()):
                raise DataError(
                    where, f"label.steps[{index}].chosen_completion",
                    f"an index into its {len(candidates or ())} completions, or null "
                    "(PRM800KPolicy(chosen_out_of_range='human') reads it as null)",
                    chosen, reason="chosen_completion out of range",
                )

    if screening or generation == -1:
        if policy.initial_screening == "skip":
            report.skip("initial-screening question")
            return []
        report.note("initial-screening questions kept")
    if quality:
        if policy.quality_control == "skip":
            report.skip("quality-control question")
            return []
        report.note("quality-control questions kept")
    if finish_reason == "bad_problem":
        if policy.bad_problem == "skip":
            report.skip("finish_reason bad_problem")
            return []
        report.note("bad_problem records kept")

    meta = {
        "labeler": row.get("labeler"),
        "timestamp": row.get("timestamp"),
        "generation": generation,
        "phase": 1 if generation is None else 2,
        "finish_reason": finish_reason,
        "is_quality_control_question": bool(quality),
        "is_initial_screening_question": bool(screening),
    }
    if question.get("pre_generated_answer") is not None:
        meta["pre_generated_answer"] = question["pre_generated_answer"]
    answer = None if gold is None else str(gold)
    chosen, alternatives = _trajectory(parsed, finish_reason, policy, report)
    records = []
    for steps_, ratings, human, suffix, extra in [(*chosen, "", {})] + alternatives:
        if suffix and policy.cut_at_first_error and 0 <= first_error_index([rating_label(r, policy) for r in ratings]) < len(ratings) - 1:
            report.skip("alternative after the first error (cut_at_first_error)")
            continue
        texts, ratings, labels = finish_record(steps_, ratings, policy, report)
        if not texts:
            report.skip("no chosen step")
            continue
        records.append(
            StepwiseSolution(
                prompt=problem,
                steps=tuple(texts),
                labels=tuple(labels),
                id=record_id + suffix,
                answer=answer,
                meta={**meta, **extra, "ratings": tuple(ratings), "human": tuple(human[: len(texts)])},
            )
        )
    return records


_Candidate = tuple[str, "int | None"]  # (text, rating)


def _parse_step(where: Location, index: int, step: Any) -> tuple[list[_Candidate] | None, _Candidate | None, int | None]:
    prefix = f"label.steps[{index}]"
    if not isinstance(step, dict):
        raise DataError(where, prefix, "an object", step)
    completions = step.get("completions")
    candidates: list[_Candidate] | None = None
    if completions is not None:
        if not isinstance(completions, list):
            raise DataError(where, f"{prefix}.completions", "a list or null", completions)
        candidates = [_candidate(where, f"{prefix}.completions[{j}]", c) for j, c in enumerate(completions)]
    human = step.get("human_completion")
    human_candidate = None if human is None else _candidate(where, f"{prefix}.human_completion", human)
    chosen = step.get("chosen_completion")
    if chosen is not None and type(chosen) is not int:
        raise DataError(where, f"{prefix}.chosen_completion", "an integer index or null", chosen)
    return candidates, human_candidate, chosen


def _candidate(where: Location, field: str, value: Any) -> _Candidate:
    if not isinstance(value, dict):
        raise DataError(where, field, "an object with 'text' and 'rating'", value)
    text = value.get("text")
    if not isinstance(text, str):
        raise DataError(where, f"{field}.text", "a string", text)
    return text, check_rating(where, f"{field}.rating", value.get("rating"))


def _trajectory(parsed, finish_reason: str, policy: PRM800KPolicy, report: ReadReport):
    """((steps, ratings, human), alternatives) along the chosen candidates (module docstring)."""
    steps: list[str] = []
    ratings: list[int | None] = []
    human: list[bool] = []
    alternatives = []
    for index, (candidates, human_candidate, chosen_index) in enumerate(parsed):
        candidates = candidates or []
        chosen, is_human = None, False
        if chosen_index is not None:
            if 0 <= chosen_index < len(candidates):
                chosen = candidates[chosen_index]
            else:
                report.note("chosen_completion out of range")
        if chosen is None and human_candidate is not None:
            chosen, is_human = human_candidate, True
        elif human_candidate is not None:
            report.note("human_completion not used (a completion was chosen)")
        final = None
        if chosen is None and finish_reason == "found_error":
            final = next((j for j, c in enumerate(candidates) if c[1] == -1), None)
        if policy.alternatives:
            for j, (text, rating) in enumerate(candidates):
                if rating is not None and j != chosen_index and j != final:
                    alternatives.append(
                        (steps + [text], ratings + [rating], human + [False], f"/alt-{index}-{j}", {"alternative": (index, j)})
                    )
        if chosen is None:
            if final is not None:
                steps.append(candidates[final][0])
                ratings.append(-1)
                human.append(False)
                report.note("found_error: first -1 candidate taken as the final step")
            elif not candidates and human_candidate is None:
                report.note("trajectory ended at a step with no completions")
            else:
                report.note("trajectory ended at a step with no chosen completion")
            if index + 1 < len(parsed):
                report.note("steps after the end of a trajectory ignored", len(parsed) - index - 1)
            break
        steps.append(chosen[0])
        ratings.append(chosen[1])
        human.append(is_human)
    if alternatives:
        report.note("alternative records", len(alternatives))
    return (steps, ratings, human), alternatives
