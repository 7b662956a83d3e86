"""Majority and weighted-majority voting over answers grouped by the grader's equivalence.

Public: `AnswerGrouper`, `vote`, `vote_batch`, `majority_vote`, `weighted_vote`.

Grouping: answers are compared with the grader, not as strings, so `"0.5"` and `"\\frac12"`
share one vote. `AnswerGrouper.group` walks the answers in order; each joins the first earlier
group whose representative (its first member) it is equivalent to, calling
`equivalent(representative, answer)` (the representative plays the gold answer) and caching
every pair. Identical strings are equivalent without a call. A pair the grader cannot grade
(UNGRADABLE) counts as not equivalent, so such an answer only groups with its exact duplicates.
A missing answer (None) gets group -1 and never receives votes.

Votes: each group's weight is the sum of its members' weights (1 each for a plain majority).
Ties are broken, in this order, by more members, then by the earliest first member; the winner
is reported as the index of that earliest member. With no answer at all there is no winner.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from prm.records import Verdict

# equivalent(a, b) -> a Verdict (CORRECT: same answer); a bool or None is read by Verdict.of.
Equivalence = Callable[[str, str], Verdict]


class AnswerGrouper:
    """Assigns answer-group ids using `equivalent`, caching each pair it has asked about."""

    def __init__(self, equivalent: Equivalence | None = None):
        self._equivalent = equivalent
        self._cache: dict[tuple[str, str], bool] = {}
        self.calls = 0

    def same(self, representative: str, answer: str) -> bool:
        """Whether `answer` belongs to `representative`'s group."""
        if representative.strip() == answer.strip():
            return True
        if self._equivalent is None:
            return False
        key = (representative, answer)
        if key not in self._cache:
            self.calls += 1
            self._cache[key] = Verdict.of(self._equivalent(representative, answer)) is Verdict.CORRECT
        return self._cache[key]

    def group(self, answers: Sequence[str | None]) -> list[int]:
        """Group id per answer (0, 1, ... in order of first appearance; -1 for None)."""
        representatives: list[str] = []
        by_string: dict[str, int] = {}
        ids = []
        for answer in answers:
            if answer is None:
                ids.append(-1)
                continue
            if answer in by_string:
                ids.append(by_string[answer])
                continue
            group = next(
                (g for g, rep in enumerate(representatives) if self.same(rep, answer)), None
            )
            if group is None:
                group = len(representatives)
                representatives.append(answer)
            by_string[answer] = group
            ids.append(group)
        return ids


def vote(group_ids: Sequence[int], weights: Sequence[float] | None = None) -> int | None:
    """Index of the winning group's earliest member, or None when every id is -1."""
    if weights is not None and len(weights) != len(group_ids):
        raise ValueError(f"{len(weights)} weights for {len(group_ids)} answers")
    totals: dict[int, list[float]] = {}  # group -> [weight, count, -first index]
    for index, group in enumerate(group_ids):
        if group < 0:
            continue
        weight = 1.0 if weights is None else float(weights[index])
        if group not in totals:
            totals[group] = [0.0, 0.0, -index]
        totals[group][0] += weight
        totals[group][1] += 1
    if not totals:
        return None
    best = max(totals.values(), key=lambda t: (t[0], t[1], t[2]))
    return int(-best[2])


def vote_batch(group_ids: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """`vote` over many subsets at once.

    group_ids: (draws, k) int group ids (-1 = no answer); each row is one subset, in the order
        that decides "earliest" (pass candidate indices sorted ascending).
    weights: (draws, k) float or None for plain counts.
    Returns (draws,) the winning column per row, or -1 where a row has no answer.
    """
    group_ids = np.asarray(group_ids)
    draws, k = group_ids.shape
    weights = np.ones((draws, k)) if weights is None else np.asarray(weights, dtype=float)
    valid = group_ids >= 0
    num_groups = int(group_ids.max()) + 1 if valid.any() else 0
    if num_groups == 0:
        return np.full(draws, -1)
    rows = np.repeat(np.arange(draws), k)
    cols = np.where(valid, group_ids, 0).ravel()
    totals = np.zeros((draws, num_groups))
    counts = np.zeros((draws, num_groups))
    np.add.at(totals, (rows, cols), np.where(valid, weights, 0.0).ravel())
    np.add.at(counts, (rows, cols), valid.ravel().astype(float))
    first = np.full((draws, num_groups), k)
    positions = np.broadcast_to(np.arange(k), (draws, k))
    np.minimum.at(first, (rows, cols), np.where(valid, positions, k).ravel())
    present = counts > 0
    # Lexicographic max of (total, count, -first) among present groups, exact (no epsilons).
    totals = np.where(present, totals, -np.inf)
    best = present & (totals == totals.max(axis=1, keepdims=True))
    counts = np.where(best, counts, -1.0)
    best &= counts == counts.max(axis=1, keepdims=True)
    first = np.where(best, first, k)
    winner = first.min(axis=1)
    return np.where(present.any(axis=1), winner, -1)


def majority_vote(
    answers: Sequence[str | None], grouper: AnswerGrouper | None = None
) -> str | None:
    """The most frequent answer (earliest on ties), grouped by `grouper`'s equivalence."""
    grouper = grouper or AnswerGrouper()
    index = vote(grouper.group(answers))
    return None if index is None else answers[index]


def weighted_vote(
    answers: Sequence[str | None],
    weights: Sequence[float],
    grouper: AnswerGrouper | None = None,
) -> str | None:
    """The answer whose group has the largest summed weight (ties as in the module docstring)."""
    grouper = grouper or AnswerGrouper()
    index = vote(grouper.group(answers), weights)
    return None if index is None else answers[index]
