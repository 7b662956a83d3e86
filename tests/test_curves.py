"""Bootstrap accuracy-vs-k curves: exact values on hand-made candidate tables, files, plots."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from search.candidates import Candidate, ProblemCandidates
from search.curves import (
    CurveConfig,
    bootstrap_curves,
    curve_methods,
    default_ks,
    evaluate_curves,
    format_differences,
    format_table,
    pass_at_k,
    rm_at_k,
    write_curves_csv,
    write_curves_json,
)
from search.plots import headline_methods, plot_curves, spaced_ticks


def cand(answer, correct, score, tokens=10):
    return Candidate(
        text=answer, steps=(answer,), answer=answer, num_tokens=tokens, is_correct=correct,
        step_scores=(score,), outcome_score=score,
    )


def problem(pid, candidates, groups):
    return ProblemCandidates(problem_id=pid, prompt="q", gold="x", candidates=tuple(candidates), group_ids=tuple(groups))


# Problem A: 4 candidates; the correct answer "1" is in the minority but scores highest.
A = problem("A", [cand("2", False, 0.3), cand("1", True, 0.9), cand("2", False, 0.2), cand("2", False, 0.1)], [0, 1, 0, 0])
# Problem B: all four correct.
B = problem("B", [cand("7", True, 0.5, tokens=20) for _ in range(4)], [0, 0, 0, 0])


def by(points, method, k):
    return next(p for p in points if p.method == method and p.k == k)


def test_default_ks():
    assert default_ks(16) == [1, 2, 4, 8, 16]
    assert default_ks(6) == [1, 2, 4, 6]
    assert default_ks(1) == [1]


def test_full_sample_values_are_exact():
    report = evaluate_curves([A, B], CurveConfig(draws=50, seed=1, bootstrap=200))
    points = report.points
    assert curve_methods([A, B])[:2] == ["pass", "majority"]
    assert by(points, "pass", 4).mean == 1.0
    assert by(points, "majority", 4).mean == 0.5  # A votes "2" (3 of 4)
    assert by(points, "rm:prm:min", 4).mean == 1.0
    # weighted by ORM: "2" sums 0.6 < "1" 0.9 -> correct; weighted by prm:prod the same.
    assert by(points, "weighted:orm", 4).mean == 1.0
    assert all(by(points, m, 4).estimator == "exact" for m in curve_methods([A, B]))
    # tokens per problem at k: k times the mean candidate (10 for A, 20 for B).
    assert by(points, "pass", 2).tokens == pytest.approx(15 * 2)
    # The paired difference at k=4: rm - majority is +1 on A and 0 on B.
    diff = next(d for d in report.differences if d.method == "rm:prm:min" and d.k == 4)
    assert diff.baseline == "majority" and diff.mean == pytest.approx(0.5)
    assert 0.0 <= diff.ci_low <= diff.mean <= diff.ci_high <= 1.0
    assert report.per_problem["problem_ids"] == ["A", "B"]
    assert report.per_problem["hits"]["rm:prm:min@4"] == [1.0, 1.0]


def test_exact_estimators_match_hand_computation():
    points = bootstrap_curves([A, B], CurveConfig(draws=4000, seed=0, bootstrap=100))
    # k=1: A is right 1/4 of the time, B always: (0.25 + 1) / 2, exactly for every rule.
    for method in ("pass", "majority", "rm:prm:min", "weighted:orm"):
        assert by(points, method, 1).mean == pytest.approx(0.625)
        assert by(points, method, 1).estimator == "exact"
    # k=2: pass@2 on A = 1 - C(3,2)/C(4,2) = 1/2; rm@2 the same (the correct one scores highest).
    assert by(points, "pass", 2).mean == pytest.approx(0.75)
    assert by(points, "rm:prm:min", 2).mean == pytest.approx(0.75)
    assert by(points, "pass", 2).estimator == "exact"
    # Votes at 1 < k < N are estimated from subsets, and say so.
    assert by(points, "majority", 2).estimator == "draws=4000"
    # Majority@2 on A: a pair {1, x} ties 1-1, the earliest member wins: right when the
    # correct candidate (index 1) comes first, i.e. the pair {0, 1} loses and {1, 2}, {1, 3} win.
    assert by(points, "majority", 2).mean == pytest.approx((2 / 6 + 1) / 2, abs=0.02)
    assert by(points, "pass", 2).ci_low <= by(points, "pass", 2).mean <= by(points, "pass", 2).ci_high


def test_pass_at_k_and_rm_at_k_formulas():
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 0, 2) == 0.0 and pass_at_k(4, 3, 2) == 1.0
    correct = np.array([False, True, False, False])
    scores = np.array([0.3, 0.9, 0.2, 0.1])
    answered = np.ones(4, dtype=bool)
    assert rm_at_k(correct, scores, answered, 2) == pytest.approx(0.5)
    # Without an answer the top-scored candidate is ranked last: picked only when alone.
    no_answer = np.array([True, False, True, True])
    assert rm_at_k(correct, scores, no_answer, 4) == 0.0
    assert rm_at_k(correct, scores, no_answer, 1) == pytest.approx(0.25)


def test_rm_selection_skips_candidates_without_an_answer():
    from search.best_of_n import select

    none = Candidate(text="?", steps=("?",), answer=None, num_tokens=5, is_correct=False, step_scores=(0.99,), outcome_score=0.99)
    result = problem("C", [none, cand("1", True, 0.2)], [-1, 0])
    assert select(result, "rm", "prm:min") == 1
    assert by(bootstrap_curves([result], CurveConfig(bootstrap=10)), "rm:prm:min", 2).mean == 1.0


def test_nan_scores_are_refused():
    bad = problem("N", [cand("1", True, float("nan")), cand("2", False, 0.5)], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_curves([bad], CurveConfig(bootstrap=10))


def test_same_seed_same_points():
    first = bootstrap_curves([A, B], CurveConfig(draws=20, seed=3, bootstrap=50))
    assert first == bootstrap_curves([A, B], CurveConfig(draws=20, seed=3, bootstrap=50))


def test_ungrouped_results_skip_voting_and_too_large_k_raises():
    ungrouped = ProblemCandidates(problem_id="A", prompt="q", gold="x", candidates=A.candidates)
    assert curve_methods([ungrouped]) == ["pass", *[f"rm:prm:{a}" for a in ("min", "prod", "last", "mean")], "rm:orm"]
    with pytest.raises(ValueError, match="k up to 8"):
        bootstrap_curves([A], CurveConfig(ks=(8,)))
    with pytest.raises(ValueError, match="CurveConfig.draws"):
        CurveConfig(draws=0)
    with pytest.raises(ValueError, match="CurveConfig.bootstrap"):
        CurveConfig(bootstrap=0)


def test_files_table_and_plots(tmp_path):
    report = evaluate_curves([A, B], CurveConfig(draws=10, bootstrap=50))
    points = report.points
    assert "rm:prm:min" in format_differences(report.differences)
    assert headline_methods(points, "min") == ["pass", "majority", "weighted:prm:min", "rm:prm:min", "rm:orm"]
    assert headline_methods(points, "min", ["all"]) == list(dict.fromkeys(p.method for p in points))
    with pytest.raises(ValueError, match="plot-methods"):
        headline_methods(points, "min", ["nope"])
    write_curves_csv(points, tmp_path / "c.csv")
    rows = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert len(rows) == len(points) and rows[0]["method"] == "pass"
    write_curves_json(points, tmp_path / "c.json", {"beam": {"accuracy": 0.5}})
    payload = json.loads((tmp_path / "c.json").read_text())
    assert payload["beam"] == {"accuracy": 0.5} and len(payload["points"]) == len(points)
    table = format_table(points)
    assert "majority" in table and "k=4" in table
    pytest.importorskip("matplotlib")
    for x in ("k", "tokens"):
        path = plot_curves(points, tmp_path / f"{x}.png", x=x, extra_points=[("beam", 30.0, 0.8)])
        assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="x must be"):
        plot_curves(points, tmp_path / "x.png", x="seconds")


def test_token_ticks_are_thinned_so_their_labels_do_not_overlap():
    # best-of-k tokens double with k; best-of-8's 185 sits beside beam's 164 and is dropped
    assert spaced_ticks([23, 46, 92, 164, 185, 369]) == [23, 46, 92, 164, 369]
    assert spaced_ticks([2.0 ** i for i in range(12)]) == [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]
    assert spaced_ticks([]) == []
