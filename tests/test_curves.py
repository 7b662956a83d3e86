"""Bootstrap accuracy-vs-k curves: exact values on hand-made candidate tables, files, plots."""

from __future__ import annotations

import csv
import json

import pytest

from search.candidates import Candidate, ProblemCandidates
from search.curves import (
    CurveConfig,
    bootstrap_curves,
    curve_methods,
    default_ks,
    format_table,
    write_curves_csv,
    write_curves_json,
)
from search.plots import plot_curves


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
    points = bootstrap_curves([A, B], CurveConfig(draws=50, seed=1))
    assert curve_methods([A, B])[:2] == ["pass", "majority"]
    # k = N: every draw is the whole set, so there is no spread.
    assert by(points, "pass", 4).mean == 1.0
    assert by(points, "majority", 4).mean == 0.5  # A votes "2" (3 of 4)
    assert by(points, "rm:prm:min", 4).mean == 1.0
    # weighted by ORM: "2" sums 0.6 < "1" 0.9 -> correct; weighted by prm:prod the same.
    assert by(points, "weighted:orm", 4).mean == 1.0
    assert all(by(points, m, 4).std == 0.0 for m in curve_methods([A, B]))
    # tokens per problem at k: mean of (10k for A, 20k for B).
    assert by(points, "pass", 2).tokens == pytest.approx(15 * 2)


def test_k1_is_the_average_candidate():
    points = bootstrap_curves([A, B], CurveConfig(draws=4000, seed=0))
    # k=1: A is right 1/4 of the time, B always: expected accuracy (0.25 + 1) / 2.
    for method in ("pass", "majority", "rm:prm:min", "weighted:orm"):
        assert by(points, method, 1).mean == pytest.approx(0.625, abs=0.02)
    assert by(points, "pass", 1).std > 0
    # k=2: pass@2 on A = 1 - C(3,2)/C(4,2) = 1/2; rm@2 the same (the correct one scores highest).
    assert by(points, "pass", 2).mean == pytest.approx(0.75, abs=0.02)
    assert by(points, "rm:prm:min", 2).mean == pytest.approx(0.75, abs=0.02)
    assert by(points, "pass", 2).p5 <= by(points, "pass", 2).mean <= by(points, "pass", 2).p95


def test_same_seed_same_points():
    first = bootstrap_curves([A, B], CurveConfig(draws=20, seed=3))
    assert first == bootstrap_curves([A, B], CurveConfig(draws=20, seed=3))


def test_ungrouped_results_skip_voting_and_too_large_k_raises():
    ungrouped = ProblemCandidates(problem_id="A", prompt="q", gold="x", candidates=A.candidates)
    assert curve_methods([ungrouped]) == ["pass", *[f"rm:prm:{a}" for a in ("min", "prod", "last", "mean")], "rm:orm"]
    with pytest.raises(ValueError, match="k up to 8"):
        bootstrap_curves([A], CurveConfig(ks=(8,)))
    with pytest.raises(ValueError, match="CurveConfig.draws"):
        CurveConfig(draws=0)


def test_files_table_and_plots(tmp_path):
    points = bootstrap_curves([A, B], CurveConfig(draws=10))
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
