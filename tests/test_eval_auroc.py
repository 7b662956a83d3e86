"""Step-level AUROC: exact rank statistic with ties, checked by hand and against sklearn."""

from __future__ import annotations

import numpy as np
import pytest

from search.auroc import auroc, step_auroc


def test_hand_cases():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    # positives 0.5, 0.9; negatives 0.5, 0.1: pairs (0.5>0.1)=1, (0.5=0.5)=0.5, 0.9 beats both=2 -> 3.5/4
    assert auroc([0.5, 0.9, 0.5, 0.1], [True, True, False, False]) == 0.875
    assert auroc([0.3, 0.3, 0.3], [True, False, True]) == 0.5


def test_one_class_raises():
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [True, True])


def test_step_auroc_skips_unlabelled_steps_and_thresholds_soft_labels():
    scores = [[0.9, 0.2, 0.99], [0.8, 0.7]]
    labels = [[1.0, 0.0, None], [0.75, 0.25]]
    value, count = step_auroc(scores, labels)
    assert count == 4
    # good: 0.9, 0.8; bad: 0.2, 0.7 -> all 4 pairs ordered
    assert value == 1.0
    with pytest.raises(ValueError, match="solution 1: 2 step scores for 1 labels"):
        step_auroc([[0.1], [0.1, 0.2]], [[1.0], [1.0]])


@pytest.mark.parametrize("seed", range(3))
def test_matches_sklearn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 10, 300) / 10.0  # many ties
    labels = rng.random(300) < 0.4
    assert auroc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores))


@pytest.mark.shared_data
def test_real_prm800k_labels_oracle_auroc_is_one(shared_data):
    data = pytest.importorskip("prm.data")
    path = shared_data / "prm800k" / "phase1_test.stepwise-critic.jsonl"
    # alternatives=True keeps the rejected candidates, which hold most of the bad steps.
    solutions = [s for s in data.load_stepwise(path, alternatives=True) if s.labels is not None][:300]
    oracle = [[0.0 if v is None else v for v in s.labels] for s in solutions]
    value, count = step_auroc(oracle, [s.labels for s in solutions])
    assert value == 1.0
    assert count == sum(v is not None for s in solutions for v in s.labels)
    assert 0 < sum(v is not None and v < 0.5 for s in solutions for v in s.labels) < count


def test_distinct_step_labels_count_a_shared_prefix_once():
    from prm.records import StepwiseSolution
    from search.auroc import distinct_step_labels

    chosen = StepwiseSolution(prompt="Q", steps=("a", "b"), labels=(1.0, 1.0))
    alternative = StepwiseSolution(prompt="Q", steps=("a", "c"), labels=(1.0, 0.0))
    other = StepwiseSolution(prompt="P", steps=("a",), labels=(0.0,))
    assert distinct_step_labels([chosen, alternative, other]) == [[1.0, 1.0], [None, 0.0], [0.0]]
