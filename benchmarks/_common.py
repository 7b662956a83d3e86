"""Helpers shared by the quality benchmarks: problem splits, seeded samples, label counts.

Public: `split_by_problem`, `split_summary`, `kept_labels`, `sample_balanced`,
`sample_processbench`, `parse_count` (`distinct_step_labels` lives in `search.auroc`).

Everything here is deterministic for a given seed, so two runs of a benchmark with the same
flags see the same problems, records and ProcessBench cases.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Callable, Sequence

from prm.records import Label, StepwiseSolution
from search.auroc import distinct_step_labels


def parse_count(text: str) -> int:
    """An argparse type: a count >= 0, or "all" (returned as 0, meaning everything)."""
    if text.strip().lower() == "all":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a count >= 0 or 'all', got {text!r}") from None
    if value < 0:
        raise ValueError(f"expected a count >= 0 or 'all', got {text!r}")
    return value


def split_by_problem(
    records: Sequence[StepwiseSolution], heldout_fraction: float, seed: int
) -> tuple[list[StepwiseSolution], list[StepwiseSolution], list[str], list[str]]:
    """(train records, held-out records, train problems, held-out problems).

    Problems are the distinct prompts, sorted, then shuffled with `seed`; the first
    round(fraction * count) of them (at least one, at most count - 1) are held out. Every record
    of a problem lands on the same side, so no held-out problem text is trained on.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction!r}")
    problems = sorted({r.prompt for r in records})
    if len(problems) < 2:
        raise ValueError(f"need at least 2 distinct problems to split, got {len(problems)}")
    random.Random(seed).shuffle(problems)
    count = min(max(1, round(heldout_fraction * len(problems))), len(problems) - 1)
    heldout_problems = sorted(problems[:count])
    train_problems = sorted(problems[count:])
    heldout_set = set(heldout_problems)
    train = [r for r in records if r.prompt not in heldout_set]
    heldout = [r for r in records if r.prompt in heldout_set]
    return train, heldout, train_problems, heldout_problems


def _label_counts(label_lists: Sequence[Sequence[Label]]) -> dict[str, int]:
    counter = Counter(
        "none" if v is None else ("good" if v >= 0.5 else "bad") for labels in label_lists for v in labels
    )
    return {"good": counter["good"], "bad": counter["bad"], "unlabelled": counter["none"]}


def split_summary(records: Sequence[StepwiseSolution]) -> dict[str, Any]:
    """Problems, records, steps and labels (all record steps, and distinct steps only)."""
    distinct = distinct_step_labels(records)
    return {
        "problems": len({r.prompt for r in records}),
        "records": len(records),
        "steps": sum(len(r.steps) for r in records),
        "labels": _label_counts([r.labels or (None,) * len(r.steps) for r in records]),
        "distinct_steps": sum(1 for labels in distinct for v in labels if v is not None),
        "distinct_labels": _label_counts(distinct),
    }


def kept_labels(record: StepwiseSolution, kept_steps: int) -> tuple[Label, ...]:
    """The labels of the first `kept_steps` steps (what training sees after truncation)."""
    return tuple((record.labels or ())[:kept_steps])


def sample_balanced(
    records: Sequence[StepwiseSolution],
    count: int,
    seed: int,
    kept_steps: Callable[[StepwiseSolution], int],
) -> list[StepwiseSolution]:
    """`count` records (0: all), half with a bad label among the steps that survive truncation
    and half with only good ones, drawn with `seed`; the order is shuffled.

    kept_steps(record): how many leading steps fit the length budget. Records that keep no
    labelled step are never drawn. Where one side has too few records, the other fills in.
    """
    with_bad, all_good = [], []
    for record in records:
        labels = [v for v in kept_labels(record, kept_steps(record)) if v is not None]
        if not labels:
            continue
        (with_bad if any(v < 0.5 for v in labels) else all_good).append(record)
    rng = random.Random(seed)
    if count == 0 or count >= len(with_bad) + len(all_good):
        chosen = with_bad + all_good
    else:
        bad_count = min(len(with_bad), max(count - len(all_good), (count + 1) // 2))
        chosen = rng.sample(with_bad, bad_count) + rng.sample(all_good, count - bad_count)
    rng.shuffle(chosen)
    return chosen


def sample_processbench(
    solutions: Sequence[StepwiseSolution], count: int, seed: int
) -> list[StepwiseSolution]:
    """`count` cases (0: the whole subset), half erroneous (label >= 0) and half correct
    (label -1), drawn with `seed`, in file order. A side with too few cases is topped up by the
    other."""
    if count == 0 or count >= len(solutions):
        return list(solutions)
    erroneous = [i for i, s in enumerate(solutions) if int(s.meta["label"]) >= 0]
    correct = [i for i, s in enumerate(solutions) if int(s.meta["label"]) < 0]
    error_count = min(len(erroneous), max(count - len(correct), (count + 1) // 2))
    rng = random.Random(seed)
    picked = rng.sample(erroneous, error_count) + rng.sample(correct, count - error_count)
    return [solutions[i] for i in sorted(picked)]
