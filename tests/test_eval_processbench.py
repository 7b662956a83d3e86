"""ProcessBench metrics checked against cases computed by hand."""

from __future__ import annotations

import itertools

import pytest

from search.processbench import predict_first_error, processbench_report, subset_score, tune_threshold

# label = first wrong step, -1 = all steps right
LABELS = [2, 0, -1, 1, -1]
LENGTHS = [4, 3, 2, 3, 5]


def oracle(labels=LABELS, lengths=LENGTHS):
    return [[0.0 if label >= 0 and i >= label else 1.0 for i in range(n)] for label, n in zip(labels, lengths)]


def test_predict_first_error():
    assert predict_first_error([0.9, 0.4, 0.1], 0.5) == 1
    assert predict_first_error([0.9, 0.8], 0.5) == -1
    assert predict_first_error([], 0.5) == -1
    assert predict_first_error([0.5], 0.5) == -1  # "under" the threshold is strict


def test_oracle_prm_scores_f1_100():
    predictions = [predict_first_error(s, 0.5) for s in oracle()]
    assert subset_score(predictions, LABELS).f1 == 100.0


def test_prm_that_calls_every_step_correct_scores_f1_0():
    predictions = [predict_first_error([1.0] * n, 0.5) for n in LENGTHS]
    score = subset_score(predictions, LABELS)
    assert (score.error_accuracy, score.correct_accuracy, score.f1) == (0.0, 100.0, 0.0)


def test_worked_example():
    # Erroneous cases: labels 2, 0, 1 predicted 2 (hit), 1 (miss), -1 (miss) -> 1/3.
    # Correct cases: predicted -1 (hit), 0 (miss) -> 1/2.  F1 = 2 * 33.33 * 50 / 83.33 = 40.
    score = subset_score([2, 1, -1, -1, 0], LABELS)
    assert score.error_accuracy == pytest.approx(100 / 3)
    assert score.correct_accuracy == 50.0
    assert score.f1 == pytest.approx(40.0)
    assert (score.num_error, score.num_correct) == (3, 2)


def test_report_averages_subsets_unweighted_and_tunes_on_gsm8k_only():
    # gsm8k: the oracle scaled into [0.6, 0.8]: only a threshold in (0.6, 0.8] is perfect.
    gsm8k_scores = [[0.6 + 0.2 * s for s in solution] for solution in oracle()]
    # math: every step at 0.7, so only a threshold <= 0.7 calls its correct cases correct.
    math_scores = [[0.7] * n for n in LENGTHS]
    report = processbench_report({"gsm8k": (gsm8k_scores, LABELS), "math": (math_scores, LABELS)})
    assert report["tuned_on"] == "gsm8k"
    assert 0.6 < report["threshold"] <= 0.8
    assert report["subsets"]["gsm8k"]["f1"] == 100.0
    assert report["average_f1"] == pytest.approx((100.0 + report["subsets"]["math"]["f1"]) / 2)
    fixed = processbench_report({"math": (math_scores, LABELS)}, threshold=0.5)
    assert fixed["tuned_on"] is None and fixed["average_f1"] == 0.0
    with pytest.raises(ValueError, match="cannot tune the threshold on 'gsm8k'"):
        processbench_report({"math": (math_scores, LABELS)})


def test_tuned_threshold_beats_every_grid_threshold():
    scores = [[0.9, 0.7, 0.35, 0.2], [0.45, 0.8, 0.1], [0.66, 0.55], [0.95, 0.3, 0.6], [0.8, 0.75, 0.5, 0.9, 0.61]]
    threshold, best = tune_threshold(scores, LABELS)
    grid = [i / 200 for i in range(202)]
    best_grid = max(subset_score([predict_first_error(s, t) for s in scores], LABELS).f1 for t in grid)
    assert best.f1 >= best_grid - 1e-9
    assert best == subset_score([predict_first_error(s, threshold) for s in scores], LABELS)


@pytest.mark.parametrize("seed", range(3))
def test_tuning_is_exact_on_random_cases(seed):
    import random

    rng = random.Random(seed)
    lengths = [rng.randint(1, 5) for _ in range(12)]
    labels = [rng.randint(-1, n - 1) for n in lengths]
    scores = [[round(rng.random(), 2) for _ in range(n)] for n in lengths]
    _, best = tune_threshold(scores, labels)
    every = sorted({s for solution in scores for s in solution} | {1.1})
    candidates = list(itertools.chain(every, [s + 0.005 for s in every]))
    brute = max(subset_score([predict_first_error(s, t) for s in scores], labels).f1 for t in candidates)
    assert best.f1 == pytest.approx(brute)


@pytest.mark.shared_data
def test_real_processbench_oracle_and_all_correct(shared_data):
    data = pytest.importorskip("prm.data")
    solutions = data.read_processbench(shared_data / "processbench" / "gsm8k.json")
    labels = [int(s.meta["label"]) for s in solutions]
    oracle_scores = [[0.0 if v is not None and v < 0.5 else 1.0 for v in s.labels] for s in solutions]
    report = processbench_report({"gsm8k": (oracle_scores, labels)})
    assert report["subsets"]["gsm8k"]["f1"] == 100.0
    assert report["subsets"]["gsm8k"]["num_correct"] == 193
    all_good = [[1.0] * len(s.steps) for s in solutions]
    assert processbench_report({"gsm8k": (all_good, labels)}, threshold=0.5)["average_f1"] == 0.0
