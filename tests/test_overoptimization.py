"""search.overoptimization and `prm eval overoptimization`: best-of-n by a proxy, judged by the
exact truth, computed by hand on pools small enough to enumerate."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from prm.cli import main
from prm.data.io import write_jsonl as write_rows
from prm.data.synthetic import SyntheticConfig, make_problems
from search.candidates import Candidate, ProblemCandidates
from search.curves import pick_probabilities, rm_at_k
from search.overoptimization import (
    align_pools,
    ensemble_proxy,
    gold_bends,
    kl_best_of_n,
    overoptimization_curves,
    report_json,
    score_key_proxy,
    weak_proxy,
)


def _enumerated(scores, k):
    """Pick probabilities by listing every k-subset and splitting ties evenly."""
    n = len(scores)
    chance = np.zeros(n)
    subsets = list(itertools.combinations(range(n), k))
    for subset in subsets:
        best = max(scores[i] for i in subset)
        winners = [i for i in subset if scores[i] == best]
        for i in winners:
            chance[i] += 1 / len(winners) / len(subsets)
    return chance


def test_pick_probabilities_by_hand():
    assert pick_probabilities([3, 2, 1], 1) == pytest.approx([1 / 3] * 3)
    # k=2: {0,1} -> 0, {0,2} -> 0, {1,2} -> 1
    assert pick_probabilities([3, 2, 1], 2) == pytest.approx([2 / 3, 1 / 3, 0])
    assert pick_probabilities([3, 2, 1], 3) == pytest.approx([1, 0, 0])
    # a tie at the top, k=2: {0,1} split in half, {0,2} -> 0, {1,2} -> 1
    assert pick_probabilities([1, 1, 0], 2) == pytest.approx([1 / 2, 1 / 2, 0])
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pick_probabilities([1, 2], 3)
    with pytest.raises(ValueError, match="NaN"):
        pick_probabilities([1, math.nan], 1)


def test_pick_probabilities_match_enumeration_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 3, size=6).astype(float)
        for k in range(1, 7):
            assert pick_probabilities(scores, k) == pytest.approx(_enumerated(scores, k))


def test_rm_at_k_is_unchanged():
    correct = np.array([True, False, True, False, True])
    scores = np.array([0.2, 0.9, 0.9, 0.1, 0.5])
    answered = np.array([True, True, True, True, False])
    order = np.lexsort((np.arange(5), -scores, ~answered))
    for k in range(1, 6):
        weights = [math.comb(5 - 1 - r, k - 1) / math.comb(5, k) for r in range(5)]
        assert rm_at_k(correct, scores, answered, k) == pytest.approx(float((np.array(weights) * correct[order]).sum()))


def test_kl_best_of_n():
    assert kl_best_of_n(1) == 0.0
    assert kl_best_of_n(2) == pytest.approx(math.log(2) - 0.5)
    assert kl_best_of_n(64) == pytest.approx(math.log(64) - 63 / 64)


def test_a_three_sample_pool_by_hand():
    # The proxy ranks the one wrong sample first: the gold of the pick falls as n grows.
    proxy = {"rm": [np.array([0.9, 0.5, 0.1])] * 2}
    gold = {"final_answer": [np.array([0.0, 1.0, 1.0])] * 2}
    report = overoptimization_curves(proxy, gold, bootstrap=200)
    got = {(p.n, p.measure): p.mean for p in report.points}
    assert [p.n for p in report.points if p.measure == "proxy"] == [1, 2, 3]
    assert got[(1, "proxy")] == pytest.approx(0.5) and got[(1, "final_answer")] == pytest.approx(2 / 3)
    # n=2: the picks are 0, 0, 1 with chance 2/3, 1/3, 0
    assert got[(2, "proxy")] == pytest.approx(0.9 * 2 / 3 + 0.5 / 3)
    assert got[(2, "final_answer")] == pytest.approx(1 / 3)
    assert got[(3, "proxy")] == pytest.approx(0.9) and got[(3, "final_answer")] == 0.0
    point = next(p for p in report.points if p.n == 2 and p.measure == "final_answer")
    assert point.kl == pytest.approx(math.log(2) - 0.5)
    assert point.ci_low == point.ci_high == pytest.approx(1 / 3)  # two identical problems
    bend = gold_bends(report)["rm"]
    assert bend["peak_n"] == 1 and bend["last_n"] == 3 and bend["peak_minus_last"] == pytest.approx(2 / 3)
    assert bend["falls"]
    payload = report_json(report)
    assert payload["proxies"]["rm"][1]["final_answer"]["mean"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="n must be in 1..3"):
        overoptimization_curves(proxy, gold, ns=[4])
    with pytest.raises(ValueError, match="other pool sizes"):
        overoptimization_curves(proxy, {"final_answer": [np.array([1.0, 0.0])] * 2})


def _candidate(text, steps, scores, correct, outcome=None):
    return Candidate(text=text, steps=tuple(steps), answer="7" if correct else "8", num_tokens=5 * len(steps),
                     is_correct=correct, step_scores=tuple(scores), outcome_score=outcome)


def _pool(first, second, pid="p"):
    return [ProblemCandidates(pid, "Q", "7", (_candidate("a", ["x", "y"], first, True, 0.2),
                                              _candidate("b", ["x"], second, False, 0.6)))]


def test_ensembles_combine_per_step_then_aggregate():
    pools = align_pools([_pool([0.8, 0.6], [0.4]), _pool([0.4, 0.2], [0.6])])
    assert ensemble_proxy(pools, "prm:last", "mean")[0] == pytest.approx([0.4, 0.5])
    assert ensemble_proxy(pools, "prm:min", "min")[0] == pytest.approx([0.2, 0.4])
    # mean - 1 * std of (0.6, 0.2) = 0.4 - 0.2; of (0.4, 0.6) = 0.5 - 0.1
    assert ensemble_proxy(pools, "prm:last", "mean_std", 1.0)[0] == pytest.approx([0.2, 0.4])
    assert score_key_proxy(pools[0], "orm")[0] == pytest.approx([0.2, 0.6])
    assert ensemble_proxy(pools, "orm", "mean")[0] == pytest.approx([0.2, 0.6])
    assert weak_proxy(pools[0], "neg_steps")[0] == pytest.approx([-2, -1])
    noisy = weak_proxy(pools[0], "noisy", [np.array([0.0, 0.0])], noise_sd=1.0, seed=3)
    assert noisy[0] == pytest.approx(weak_proxy(pools[0], "noisy", [np.array([0.0, 0.0])], noise_sd=1.0, seed=3)[0])
    with pytest.raises(ValueError, match="other samples"):
        other = _pool([0.1, 0.1], [0.1])
        align_pools([pools[0], [ProblemCandidates("p", "Q", "7", (other[0].candidates[1], other[0].candidates[0]))]])
    with pytest.raises(ValueError, match="other problems"):
        align_pools([pools[0], _pool([0.1, 0.1], [0.1], pid="q")])


@pytest.fixture
def synthetic_pool(tmp_path):
    problems = make_problems(2, SyntheticConfig(seed=0, num_steps=2))
    write_rows([{"id": p.id, "question": p.question, "answer": p.answer, "reference_solution": p.reference_solution,
                 "meta": dict(p.meta)} for p in problems], tmp_path / "problems.jsonl")
    rows, rescored = [], []
    for problem in problems:
        right = problem.reference_solution.split("\n\n")
        slipped = [right[0], "2 + 2 = 5.", f"The answer is {problem.answer}."]  # right answer, a wrong step
        wrong = [right[0], "The answer is 123456."]
        samples = [(right, [0.9] * 3, True), (slipped, [0.8, 0.8, 0.95], True), (wrong, [0.2, 0.99], False)]
        candidates = [_candidate("\n\n".join(s), s, scores, correct) for s, scores, correct in samples]
        rows.append(ProblemCandidates(problem.id, problem.question, problem.answer, tuple(candidates)).to_dict())
        other = [Candidate(**{**c.__dict__, "step_scores": tuple(0.5 for _ in c.steps)}) for c in candidates]
        rescored.append(ProblemCandidates(problem.id, problem.question, problem.answer, tuple(other)).to_dict())
    write_rows(rows, tmp_path / "a.jsonl")
    write_rows(rescored, tmp_path / "b.jsonl")
    return tmp_path


def test_prm_eval_overoptimization_end_to_end(synthetic_pool, capsys):
    pytest.importorskip("matplotlib")
    root = synthetic_pool
    out = root / "over"
    argv = ["eval", "overoptimization", "--results", f"A={root / 'a.jsonl'}", f"B={root / 'b.jsonl'}",
            "--problems", str(root / "problems.jsonl"), "--keys", "prm:last", "--ensemble", "mean",
            "--weak", "neg_steps", "--bootstrap", "100", "--out", str(out)]
    assert main(argv) == 0
    payload = json.loads((out / "overoptimization.json").read_text())
    assert set(payload["proxies"]) == {"A/prm:last", "B/prm:last", "mean(A,B)/prm:last", "neg_steps"}
    by_n = {row["n"]: row for row in payload["proxies"]["A/prm:last"]}
    assert sorted(by_n) == [1, 2, 3]
    # A ranks wrong (0.99) > slipped (0.95) > right (0.9): at n=3 it always picks the wrong one
    assert by_n[1]["final_answer"]["mean"] == pytest.approx(2 / 3)
    assert by_n[1]["all_steps"]["mean"] == pytest.approx(1 / 3)
    assert by_n[3]["final_answer"]["mean"] == 0.0 and by_n[3]["proxy"]["mean"] == pytest.approx(0.99)
    assert by_n[2]["kl"] == pytest.approx(math.log(2) - 0.5)
    # neg_steps: the wrong 2-step sample wins whenever drawn (2/3 of pairs); otherwise the two
    # 3-step samples tie and split: final answer right either way, every step right in one
    shortest = {row["n"]: row for row in payload["proxies"]["neg_steps"]}
    assert shortest[2]["final_answer"]["mean"] == pytest.approx(1 / 3)
    assert shortest[2]["all_steps"]["mean"] == pytest.approx(1 / 6)
    assert shortest[3]["final_answer"]["mean"] == 0.0
    assert payload["bends"]["final_answer"]["A/prm:last"]["peak_n"] == 1
    assert "A/prm:last" in payload["length_bias"] and payload["length_bias"]["lengths"] == "generated tokens"
    import pandas as pd

    frame = pd.read_csv(out / "overoptimization.csv")
    assert list(frame.columns) == ["proxy", "n", "kl", "measure", "mean", "ci_low", "ci_high"]
    assert len(frame) == 4 * 3 * 3
    assert (out / "overoptimization.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "final-answer gold peaks at n=1" in printed
