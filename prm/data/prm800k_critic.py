"""PRM800K "stepwise-critic" rows (one row per candidate step) -> `StepwiseSolution`.

Public: `read_prm800k_critic(path, policy=..., on_error=..., report=...)`,
`parse_prm800k_critic_rows(rows, ...)`, `critic_step_text(row)`.

The format (scottlogic-alex/prm800k-denorm; `phase1_test.stepwise-critic.{jsonl,parquet}`)
holds, per candidate: `instruction` (the problem), `responses` (the steps chosen before it),
`next_response`, `answer` (text after `# Answer`, or null), `is_human_response`,
`is_preferred_response`, `is_solution`, `rating` (-1/0/1/null).

Reconstruction, without cartesian expansion:
- a *turn* is a run of consecutive rows with the same `instruction` and `responses`;
- a *conversation* (one labeler's trajectory) starts at a turn whose `responses` is empty;
  every later turn's `responses` must equal the previous turn's plus its preferred step,
  otherwise the row is a bad record;
- the record is the preferred path: at each turn the one `is_preferred_response` candidate
  (machine or human), each with its own rating; a turn with no preferred candidate ends the
  conversation (that turn's candidates are not continued). A conversation with no preferred
  step at all gives no record and is counted as skipped;
- with `alternatives=True`, each rated non-preferred candidate also becomes a record: the
  preferred steps before its turn plus that candidate (id suffix `/alt-<turn>-<row>`).
A step's text is `next_response`, plus `"\\n\\n# Answer\\n\\n" + answer` where `answer` is set,
which restores the raw PRM800K completion text. Labels follow the same `PRM800KPolicy`
(`neutral`, `unrated`, `cut_at_first_error`) as the raw reader. Ids are `<file stem>-<row of the
conversation's first row>` with the `.jsonl`/`.parquet` suffix removed, so the jsonl and
parquet copies give identical records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from prm.data.errors import (
    DataError,
    Location,
    ReadReport,
    handle,
    report_for,
    require,
    require_object,
    require_strings,
    require_text,
)
from prm.data.io import read_with
from prm.data.prm800k import PRM800KPolicy, check_rating, finish_record, rating_label
from prm.records import StepwiseSolution, first_error_index

ANSWER_SEPARATOR = "\n\n# Answer\n\n"


def critic_step_text(row: dict) -> str:
    """The raw PRM800K step text of one critic row (`next_response` [+ `# Answer` part])."""
    answer = row.get("answer")
    return row["next_response"] if answer is None else row["next_response"] + ANSWER_SEPARATOR + answer


def read_prm800k_critic(
    path: str | Path,
    policy: PRM800KPolicy | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Preferred-path records and (by default) alternative records of a stepwise-critic file."""
    return read_with(parse_prm800k_critic_rows, path, on_error, report, policy=policy, id_prefix=Path(path).stem)


def parse_prm800k_critic_rows(
    rows: Iterable[tuple[Location, Any]],
    policy: PRM800KPolicy | None = None,
    id_prefix: str = "prm800k-critic",
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[StepwiseSolution]:
    """Records from (location, critic row) pairs, in file order (see module docstring)."""
    policy = policy if policy is not None else PRM800KPolicy()
    report = report_for(on_error, report)
    conversations: list[list[list[tuple[Location, dict]]]] = []  # conversation -> turn -> rows
    problems: set[str] = set()
    for where, row in rows:
        try:
            row = _check_row(where, row)
        except DataError as error:
            handle(error, on_error, report)
            continue
        problems.add(row["instruction"])
        turn_key = (row["instruction"], row["responses"])
        last_turn = conversations[-1][-1] if conversations else None
        if last_turn is not None and _key(last_turn[0][1]) == turn_key:
            last_turn.append((where, row))
        elif not row["responses"] or last_turn is None:
            conversations.append([[(where, row)]])
        else:
            conversations[-1].append([(where, row)])
    report.note("distinct problems", len(problems))
    report.note("conversations", len(conversations))
    records: list[StepwiseSolution] = []
    for turns in conversations:
        try:
            records.extend(_conversation(turns, policy, id_prefix, report))
        except DataError as error:
            handle(error, on_error, report)
    report.records += len(records)
    return records


def _key(row: dict) -> tuple[str, list[str]]:
    return row["instruction"], row["responses"]


def _check_row(where: Location, row: Any) -> dict:
    row = require_object(where, row)
    require_text(where, row, "instruction")
    require_strings(where, row, "responses", blank_items=False)
    require_text(where, row, "next_response")
    require(where, row, "answer", str, optional=True)
    for flag in ("is_human_response", "is_preferred_response", "is_solution"):
        require(where, row, flag, bool)
    if "rating" not in row:
        raise DataError(where, "rating", "a rating of -1, 0, 1 or null", reason="missing field 'rating'", detail="no such field")
    check_rating(where, "rating", row["rating"])
    return row


def _conversation(turns: list[list[tuple[Location, dict]]], policy: PRM800KPolicy, id_prefix: str, report: ReadReport) -> list[StepwiseSolution]:
    first_where, first_row = turns[0][0]
    record_id = f"{_stem(id_prefix)}-{first_where.line}"
    steps: list[str] = []
    ratings: list[int | None] = []
    human: list[bool] = []
    solution = False
    alternatives = []
    for turn_index, turn in enumerate(turns):
        where, row = turn[0]
        if row["responses"] != steps:
            raise DataError(where, "responses", "the steps preferred in the conversation's earlier turns", f"{len(row['responses'])} steps that differ", reason="broken conversation")
        preferred = [(w, r) for w, r in turn if r["is_preferred_response"]]
        if len(preferred) > 1:
            raise DataError(preferred[1][0], "is_preferred_response", "one preferred candidate per turn", True, reason="two preferred candidates")
        if policy.alternatives:
            for w, r in turn:
                if not r["is_preferred_response"] and r["rating"] is not None:
                    alternatives.append((steps + [critic_step_text(r)], ratings + [r["rating"]], human + [r["is_human_response"]], f"/alt-{turn_index}-{w.line}", {"alternative_row": w.line}))
        if not preferred:
            report.note("conversation ended at a turn with no preferred candidate")
            if turn_index + 1 < len(turns):
                raise DataError(turns[turn_index + 1][0][0], "responses", "no turn after one without a preferred candidate", reason="broken conversation")
            break
        chosen = preferred[0][1]
        steps.append(critic_step_text(chosen))
        ratings.append(chosen["rating"])
        human.append(chosen["is_human_response"])
        solution = chosen["is_solution"]
    meta = {"conversation_first_row": first_where.line}
    records = []
    if not steps:
        report.skip("conversation with no preferred step")
    if alternatives:
        report.note("alternative records", len(alternatives))
    main = [(steps, ratings, human, "", {"is_solution": solution})] if steps else []
    for steps_, ratings_, human_, suffix, extra in main + alternatives:
        if suffix and policy.cut_at_first_error and 0 <= first_error_index([rating_label(r, policy) for r in ratings_]) < len(ratings_) - 1:
            report.skip("alternative after the first error (cut_at_first_error)")
            continue
        texts, ratings_, labels = finish_record(steps_, ratings_, policy, report)
        records.append(
            StepwiseSolution(
                prompt=first_row["instruction"],
                steps=tuple(texts),
                labels=tuple(labels),
                id=record_id + suffix,
                meta={**meta, **extra, "ratings": tuple(ratings_), "human": tuple(human_[: len(texts)])},
            )
        )
    return records


def _stem(prefix: str) -> str:
    for suffix in (".jsonl", ".parquet", ".json"):
        if prefix.endswith(suffix):
            return prefix[: -len(suffix)]
    return prefix
