"""search.calibration and `prm eval calibration`: ECE, reliability bins and the threshold
protocol, by hand."""

from __future__ import annotations

import json

import pytest

from prm.cli import main
from prm.data.io import write_jsonl as write_rows
from prm.data.synthetic import SyntheticConfig, make_problems
from search.calibration import (
    calibration_report,
    expected_calibration_error,
    labelled_steps,
    reliability_bins,
    threshold_protocol,
)
from search.candidates import Candidate, ProblemCandidates


def test_ece_by_hand():
    probabilities, labels = [0.1, 0.3, 0.8, 0.9], [False, True, True, True]
    # bin [0, 0.5): mean 0.2, share good 0.5 -> 0.5 * 0.3; bin [0.5, 1]: mean 0.85, share 1 -> 0.5 * 0.15
    assert expected_calibration_error(probabilities, labels, bins=2) == pytest.approx(0.15 + 0.075)
    low, high = reliability_bins(probabilities, labels, bins=2)
    assert (low.count, low.mean_probability, low.share_good) == (2, pytest.approx(0.2), 0.5)
    assert (high.low, high.high, high.count) == (0.5, 1.0, 2)
    # 1.0 falls in the last bin; an empty bin has no mean
    table = reliability_bins([1.0, 0.0], [True, False], bins=4)
    assert [b.count for b in table] == [1, 0, 0, 1] and table[1].mean_probability is None
    assert expected_calibration_error([1.0, 0.0], [True, False], bins=4) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([1.5], [True])
    with pytest.raises(ValueError, match="bins"):
        reliability_bins([0.5], [True], bins=0)


def test_labelled_steps_stop_after_the_first_bad_step():
    scores = [[0.9, 0.2, 0.7], [0.8, 0.6], [0.5]]
    labels = [[1.0, 0.0, 0.0], [True, None], [0.4]]
    p, y, owner = labelled_steps(scores, labels)
    assert p.tolist() == [0.9, 0.2, 0.8, 0.5]
    assert y.tolist() == [True, False, True, False] and owner.tolist() == [0, 0, 1, 2]
    # a step counted elsewhere is skipped, but the cut still follows this record's labels
    p, _, _ = labelled_steps(scores, labels, counted=[[False, True, True], [True, True], [True]])
    assert p.tolist() == [0.2, 0.8, 0.5]
    with pytest.raises(ValueError, match="1 step scores for 2 labelled steps"):
        labelled_steps([[0.5]], [[True, True]])


def test_threshold_chosen_on_validation_and_applied_to_test():
    # good steps score 0.6-0.7, bad ones 0.3-0.4: any threshold in (0.4, 0.6] separates them,
    # but 0.5 is not among the validation scores, so the protocol picks one that is.
    probabilities = [0.7, 0.3, 0.6, 0.4, 0.65, 0.35, 0.62, 0.38]
    labels = [True, False] * 4
    owners = [0, 0, 1, 1, 2, 2, 3, 3]
    protocol = threshold_protocol(probabilities, labels, owners, validation_fraction=0.5, seed=0, bins=2)
    assert protocol["validation_solutions"] == 2 and protocol["test_solutions"] == 2
    assert protocol["validation_balanced_accuracy"] == 1.0 and protocol["test_balanced_accuracy"] == 1.0
    assert 0.4 < protocol["threshold"] <= 0.7
    assert protocol["test_balanced_accuracy_at_0_5"] == 1.0
    with pytest.raises(ValueError, match="two solutions"):
        threshold_protocol([0.5, 0.2], [True, False], [0, 0])
    report = calibration_report([[0.7, 0.3], [0.6, 0.4]], [[True, False], [True, False]], bins=2)
    assert report["steps"] == 4 and report["bad_steps"] == 2
    assert report["brier"] == pytest.approx((0.09 + 0.09 + 0.16 + 0.16) / 4)


def test_prm_eval_calibration_against_the_exact_synthetic_truth(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    problems = make_problems(2, SyntheticConfig(seed=0, num_steps=2))
    write_rows([{"id": p.id, "question": p.question, "answer": p.answer, "reference_solution": p.reference_solution,
                 "meta": dict(p.meta)} for p in problems], tmp_path / "problems.jsonl")
    rows = []
    for problem in problems:
        right = problem.reference_solution.split("\n\n")
        wrong = [right[0], "2 + 2 = 5.", "The answer is 5."]
        candidates = (
            Candidate("\n\n".join(right), tuple(right), problem.answer, 9, True, (0.9, 0.9, 0.9)),
            Candidate("\n\n".join(wrong), tuple(wrong), "5", 9, False, (0.9, 0.1, 0.1)),
        )
        rows.append(ProblemCandidates(problem.id, problem.question, problem.answer, candidates).to_dict())
    write_rows(rows, tmp_path / "bon.jsonl")
    out = tmp_path / "cal"
    assert main(["eval", "calibration", "--results", str(tmp_path / "bon.jsonl"), "--problems",
                 str(tmp_path / "problems.jsonl"), "--bins", "10", "--out", str(out)]) == 0
    report = json.loads((out / "calibration.json").read_text())["sources"]["synthetic_truth"]
    # per problem: 3 good steps at 0.9 and (0.9 good, 0.1 bad) from the wrong one; its last step is cut
    assert report["steps"] == 10 and report["bad_steps"] == 2
    assert report["ece"] == pytest.approx(0.8 * 0.1 + 0.2 * 0.1)
    assert (out / "reliability.png").stat().st_size > 1000
    assert "synthetic_truth: ECE 0.100" in capsys.readouterr().out
