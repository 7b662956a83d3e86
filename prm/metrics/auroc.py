"""Step-level AUROC: how well step scores separate good steps from bad ones.

Public: `auroc`, `step_auroc`, `distinct_step_labels`, `within_problem_auroc`.

`auroc` is the exact rank statistic (Mann-Whitney U / (positives x negatives)) with ties counted
one half, the same number as `sklearn.metrics.roc_auc_score`, in a few lines of numpy so that
the toolkit does not need scikit-learn.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from prm.records import Label, StepwiseSolution


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Probability that a random positive outscores a random negative (ties count 1/2)."""
    scores_array = np.asarray(scores, dtype=float)
    positive = np.asarray(positives, dtype=bool)
    if scores_array.shape != positive.shape:
        raise ValueError(f"{scores_array.size} scores for {positive.size} labels")
    if np.isnan(scores_array).any():
        raise ValueError(f"AUROC of NaN scores: {int(np.isnan(scores_array).sum())} of {scores_array.size} are NaN")
    num_positive = int(positive.sum())
    num_negative = positive.size - num_positive
    if num_positive == 0 or num_negative == 0:
        raise ValueError(
            f"AUROC needs both classes, got {num_positive} positive and {num_negative} negative steps"
        )
    ranks = _average_ranks(scores_array)
    u_statistic = ranks[positive].sum() - num_positive * (num_positive + 1) / 2
    return float(u_statistic / (num_positive * num_negative))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [values.size]])
    ranks = np.empty(values.size)
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + 1 + end) / 2
    return ranks


def step_auroc(
    step_scores: Sequence[Sequence[float]],
    labels: Sequence[Sequence[Label]],
    threshold: float = 0.5,
) -> tuple[float, int]:
    """AUROC over all labelled steps of all solutions, and the number of steps it used.

    labels: per solution, per step 1.0/0.0 (soft values count as good at >= threshold) or None
    (unsupervised: skipped). Scores past the end of a solution's labels are an error.
    """
    if len(step_scores) != len(labels):
        raise ValueError(f"{len(step_scores)} score lists for {len(labels)} label lists")
    flat_scores, flat_good = [], []
    for index, (scores, solution_labels) in enumerate(zip(step_scores, labels)):
        if len(scores) != len(solution_labels):
            raise ValueError(
                f"solution {index}: {len(scores)} step scores for {len(solution_labels)} labels"
            )
        for score, label in zip(scores, solution_labels):
            if label is not None:
                flat_scores.append(score)
                flat_good.append(label >= threshold)
    return auroc(flat_scores, flat_good), len(flat_scores)


def distinct_step_labels(records: Sequence[StepwiseSolution]) -> list[list[Label]]:
    """Per record, its labels with every step already seen in an earlier record set to None.

    A step is (prompt, the steps up to and including it). PRM800K alternative records repeat
    the chosen prefix of their conversation, and a causal reward model scores a repeated prefix
    identically, so counting it once per record would weight those steps many times over.
    """
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out: list[list[Label]] = []
    for record in records:
        labels: list[Label] = []
        for index, label in enumerate(record.labels or (None,) * len(record.steps)):
            key = (record.prompt, tuple(record.steps[: index + 1]))
            labels.append(None if key in seen else label)
            seen.add(key)
        out.append(labels)
    return out


def within_problem_auroc(
    groups: Sequence[tuple[Sequence[float], Sequence[bool]]],
) -> tuple[float | None, int]:
    """Mean AUROC of solution scores against correctness inside each problem that has both
    right and wrong solutions, and how many problems that was (None when none has both).

    groups: per problem, (scores, correct). Unlike a pooled AUROC, this does not reward a
    verifier for knowing which problems are easy: best-of-n needs the right solution ranked
    first within its own problem.
    """
    values = [auroc(scores, correct) for scores, correct in groups if 0 < sum(map(bool, correct)) < len(correct)]
    return (float(np.mean(values)) if values else None), len(values)
