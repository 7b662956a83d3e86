"""search.length_bias: reward vs length and step count, raw and given correctness, by hand."""

from __future__ import annotations

import math

import pytest

from search.length_bias import correlation, length_bias, partial_correlation

CORRECT = [True, True, False, False]
LENGTHS = [10, 20, 10, 20]
STEPS = [2, 4, 2, 4]


def test_length_bias_by_hand():
    rewards = {
        "prm": [0.8, 0.9, 0.2, 0.3],  # tracks correctness, and a little length within each group
        "verifier": [1.0, 1.0, 0.0, 0.0],  # correctness only
        "long": [0.1, 0.9, 0.1, 0.9],  # length only
    }
    report = length_bias(rewards, LENGTHS, STEPS, CORRECT)
    prm = report["prm"]["length"]
    # raw: sum dx*dy = 1.0, sum dx^2 = 0.37, sum dy^2 = 100
    assert prm["raw"] == pytest.approx(1 / math.sqrt(37))
    assert prm["given_correctness"] == pytest.approx(1.0)
    assert prm["correct_only"] == pytest.approx(1.0) and prm["incorrect_only"] == pytest.approx(1.0)
    assert report["prm"]["steps"] == pytest.approx(prm)  # steps are lengths / 5 here
    verifier = report["verifier"]["length"]
    assert verifier["raw"] == pytest.approx(0.0)
    assert math.isnan(verifier["given_correctness"]) and math.isnan(verifier["correct_only"])
    assert report["long"]["length"]["raw"] == pytest.approx(1.0)
    assert report["long"]["length"]["given_correctness"] == pytest.approx(1.0)


def test_partial_correlation_removes_a_bias_carried_by_correctness():
    # correct solutions are longer and score higher; within each group reward falls with length
    rewards = [0.9, 0.8, 0.3, 0.2]
    lengths = [30, 40, 10, 20]
    assert correlation(rewards, lengths) > 0.5
    assert partial_correlation(rewards, lengths, CORRECT) == pytest.approx(-1.0)


def test_spearman_uses_average_ranks():
    # ranks x = (1, 2.5, 2.5, 4), y = (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5)
    assert correlation([1, 2, 2, 3], [1, 2, 3, 4], "spearman") == pytest.approx(4.5 / math.sqrt(22.5))
    assert correlation([1, 5, 2, 30], [1, 2, 3, 4], "spearman") == pytest.approx(0.8)
    assert length_bias({"r": [1, 2, 3, 4]}, [1, 20, 300, 4000], STEPS, CORRECT, "spearman")["r"]["length"]["raw"] == 1.0


def test_undefined_and_bad_inputs():
    assert math.isnan(correlation([1.0], [2.0])) and math.isnan(correlation([], []))
    with pytest.raises(ValueError, match="unknown correlation 'kendall'"):
        correlation([1, 2], [1, 2], "kendall")
    with pytest.raises(ValueError, match="2 values with 3 values"):
        correlation([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        correlation([1, math.nan], [1, 2])
    with pytest.raises(ValueError, match="reward 'r' has 3 values for 4 solutions"):
        length_bias({"r": [1, 2, 3]}, LENGTHS, STEPS, CORRECT)
