"""Tokenized training sets: records in, a `datasets.Dataset` of rows out, with a report.

Public: `PairLike`, `DatasetReport`, `build_dataset`.

Solution objectives (`hard`, `soft`, `orm`, `joint`) take `StepwiseSolution`s; a pair objective
(`Objective.pairs`: `bradley_terry`) takes pairs: anything with `prompt`, `chosen` and
`rejected` (steps) attributes or keys, such as `prm.records.PreferencePair` or the row `{"prompt": str, "chosen": [str], "rejected": [str]}`.
Rows that carry nothing the objective can learn from (no step label, no outcome label, a pair
that truncation cut short) are left out and counted, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

from prm.records import StepwiseSolution
from prm.steps import StepFormat
from prm.training.collate import IGNORE, encode_pair, encode_solution
from prm.training.losses import ObjectiveConfig


class PairLike(Protocol):
    prompt: str
    chosen: Sequence[str]
    rejected: Sequence[str]


@dataclass(frozen=True)
class DatasetReport:
    """records: given; rows: kept; dropped_steps: trailing steps cut by max_length in kept rows;
    skipped_too_long: records that kept no step (or a pair that lost one);
    skipped_unsupervised: records with no label the objective reads."""

    records: int
    rows: int
    dropped_steps: int
    skipped_too_long: int
    skipped_unsupervised: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _pair_fields(pair: Any, index: int) -> tuple[str, Sequence[str], Sequence[str]]:
    get = pair.get if isinstance(pair, Mapping) else lambda key: getattr(pair, key, None)
    prompt, chosen, rejected = get("prompt"), get("chosen"), get("rejected")
    if not isinstance(prompt, str) or not isinstance(chosen, Sequence) or not isinstance(rejected, Sequence):
        raise ValueError(
            f"pair {index} must have prompt (str), chosen and rejected (lists of steps); "
            f"got {type(pair).__name__} (the bradley_terry objective trains on pairs)"
        )
    if isinstance(chosen, str) or isinstance(rejected, str):
        raise ValueError(f"pair {index}: chosen and rejected must be lists of steps, not str")
    return prompt, list(chosen), list(rejected)


def _supervised(row: dict[str, Any], objective: ObjectiveConfig) -> bool:
    has_step = any(v != IGNORE for v in row["step_labels"])
    has_outcome = row["outcome_label"] != IGNORE
    supervises = objective.objective.supervises
    if supervises == "step":
        return has_step
    if supervises == "outcome":
        return has_outcome
    return has_step or has_outcome


def build_dataset(
    records: Iterable[StepwiseSolution | PairLike | Mapping[str, Any]],
    tokenizer: Any,
    step_format: StepFormat,
    objective: ObjectiveConfig,
    max_length: int | None = None,
    tag_ids: Sequence[int] | None = None,
):
    """(datasets.Dataset of rows from `prm.training.collate`, DatasetReport).

    Raises ValueError when no row is left, saying why (too long, or no labels).
    """
    from datasets import Dataset

    rows: list[dict[str, Any]] = []
    count = dropped = too_long = unsupervised = 0
    tag = list(tag_ids) if tag_ids is not None else step_format.tag_ids(tokenizer)
    for index, record in enumerate(records):
        count += 1
        if objective.uses_pairs:
            prompt, chosen, rejected = _pair_fields(record, index)
            row = encode_pair(prompt, chosen, rejected, tokenizer, step_format, max_length, tag)
            if row["dropped_steps"]:
                too_long += 1
                continue
        else:
            if not isinstance(record, StepwiseSolution):
                raise ValueError(
                    f"record {index} is a {type(record).__name__}; objective {objective.name!r} "
                    "trains on StepwiseSolution records (pairs go with bradley_terry)"
                )
            row = encode_solution(record, tokenizer, step_format, max_length, tag)
            if not row["label_positions"] and record.steps:
                too_long += 1
                continue
            if not _supervised(row, objective):
                unsupervised += 1
                continue
            dropped += row["dropped_steps"]
        rows.append(row)
    report = DatasetReport(count, len(rows), dropped, too_long, unsupervised)
    if not rows:
        raise ValueError(
            f"no training rows left from {count} records ({too_long} too long for "
            f"max_length={max_length}, {unsupervised} without labels for objective "
            f"{objective.name!r}); raise max_length or check the labels"
        )
    return Dataset.from_list(rows), report
