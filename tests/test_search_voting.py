"""Voting: grouping by the grader's equivalence, weighted votes worked by hand, tie rules."""

from __future__ import annotations

import numpy as np
import pytest

from prm.records import Verdict
from search.voting import AnswerGrouper, majority_vote, vote, vote_batch, weighted_vote

HALF = {"1/2", "0.5", "\\frac{1}{2}"}


def halves_equal(a: str, b: str) -> Verdict:
    if "?" in a or "?" in b:
        return Verdict.UNGRADABLE  # the grader cannot tell
    return Verdict.of(a == b or (a in HALF and b in HALF))


def test_weighted_vote_worked_by_hand():
    # Groups: {"1/2", "0.5"} weights 0.3 + 0.4 = 0.7; {"3", "3"} 0.2 + 0.2 = 0.4; {"7"} 0.6.
    answers = ["3", "1/2", "7", "0.5", "3", None]
    weights = [0.2, 0.3, 0.6, 0.4, 0.2, 0.99]
    grouper = AnswerGrouper(halves_equal)
    assert grouper.group(answers) == [0, 1, 2, 1, 0, -1]
    assert weighted_vote(answers, weights, grouper) == "1/2"
    # Plain majority: "3" x2 and {"1/2","0.5"} x2 tie on count; the earliest member wins ("3").
    assert majority_vote(answers, grouper) == "3"
    # Without the grader's equivalence "1/2" and "0.5" are separate groups: "7" (0.6) wins.
    assert weighted_vote(answers, weights) == "7"


def test_ties_break_by_count_then_earliest_member():
    # Equal weights 1.0: group 1 has two members, group 0 one -> group 1 wins on count.
    assert vote([0, 1, 1], [1.0, 0.5, 0.5]) == 1
    # Equal weight and count: earliest first member wins.
    assert vote([1, 0, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0
    assert vote([-1, -1]) is None
    assert vote([]) is None


def test_grouper_caches_pairs_and_ungradable_answers_stay_apart():
    calls = []

    def equivalent(a, b):
        calls.append((a, b))
        return halves_equal(a, b)

    grouper = AnswerGrouper(equivalent)
    answers = ["1/2", "0.5", "?x", "?x", "0.5", "\\frac{1}{2}"]
    assert grouper.group(answers) == [0, 0, 1, 1, 0, 0]
    first = len(calls)
    assert grouper.group(answers) == [0, 0, 1, 1, 0, 0]
    assert len(calls) == first  # every pair came from the cache
    assert AnswerGrouper(equivalent).group(["?a", "?b"]) == [0, 1]
    # a plain bool / None grader still reads as a Verdict
    assert AnswerGrouper(lambda a, b: halves_equal(a, b).as_bool()).group(answers) == [0, 0, 1, 1, 0, 0]


def test_weights_must_match_answers():
    with pytest.raises(ValueError, match="2 weights for 3"):
        vote([0, 1, 2], [1.0, 2.0])


@pytest.mark.parametrize("seed", range(5))
def test_vote_batch_matches_vote(seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(-1, 4, size=(200, 6))
    weights = rng.integers(0, 3, size=(200, 6)) / 2.0  # many exact ties
    columns = vote_batch(groups, weights)
    majority = vote_batch(groups)
    for row in range(200):
        expected = vote(list(groups[row]), list(weights[row]))
        assert columns[row] == (-1 if expected is None else expected)
        plain = vote(list(groups[row]))
        assert majority[row] == (-1 if plain is None else plain)
