"""prm.ensemble: several reward models as one scorer (mean, min, mean - k * std), by hand."""

from __future__ import annotations

import math

import pytest
import torch

from prm.ensemble import EnsembleScorer, combine
from prm.modeling import RewardConfig, RewardModel
from prm.rewards import StepReward
from prm.scores import OutcomeScorer, StepScorer
from prm.scoring import PRMScorer
from prm.steps import MATH_SHEPHERD, StepFormat
from prm.testing import tiny_causal_lm, tiny_tokenizer


class Fixed:
    """Scores each step by its position: values[position]; outcome = values[0]."""

    def __init__(self, values, step_format=None):
        self.values, self.step_format = values, step_format or StepFormat()

    def score_steps(self, prompts, steps):
        return [[self.values[i] for i in range(len(s))] for s in steps]

    def score_outcomes(self, prompts, steps):
        return [self.values[0] for _ in steps]


@pytest.mark.parametrize(
    ("how", "k", "expected"),
    [("mean", 1.0, 0.5), ("min", 1.0, 0.2), ("mean_std", 1.0, 0.5 - math.sqrt(0.06)), ("mean_std", 0.0, 0.5),
     ("mean_std", 10.0, 0.0)],
)
def test_combine_by_hand(how, k, expected):
    # values 0.2, 0.5, 0.8: mean 0.5, population std sqrt(0.06)
    assert combine([0.2, 0.5, 0.8], how, k) == pytest.approx(expected)


def test_ensemble_combines_per_step_and_per_outcome():
    members = [Fixed([0.2, 0.9]), Fixed([0.5, 0.7]), Fixed([0.8, 0.5])]
    ensemble = EnsembleScorer(members, "mean_std", k=1.0)
    assert isinstance(ensemble, StepScorer) and isinstance(ensemble, OutcomeScorer)
    [[first, second]] = ensemble.score_steps(["q"], [["a", "b"]])
    assert first == pytest.approx(0.5 - math.sqrt(0.06))
    assert second == pytest.approx(0.7 - math.sqrt(((0.9 - 0.7) ** 2 + 0 + (0.5 - 0.7) ** 2) / 3))
    assert EnsembleScorer(members, "min").score_steps(["q"], [["a", "b"]]) == [[0.2, 0.5]]
    assert EnsembleScorer(members, "mean").score_outcomes(["q", "r"], [["a"], ["b"]]) == pytest.approx([0.5, 0.5])
    # one pass per member for both heads (a member without the joint call is read twice)
    class Joint(Fixed):
        def score_steps_and_outcomes(self, prompts, steps):
            return list(zip(self.score_steps(prompts, steps), [0.1 for _ in steps]))

    [(joint_steps, joint_outcome)] = EnsembleScorer([Joint([0.2, 0.9]), Fixed([0.6, 0.5])], "mean").score_steps_and_outcomes(
        ["q"], [["a", "b"]])
    assert joint_steps == pytest.approx([0.4, 0.7]) and joint_outcome == pytest.approx((0.1 + 0.6) / 2)
    # usable wherever a scorer is: a GRPO reward over the ensemble
    reward = StepReward(EnsembleScorer(members, "min"), "min")
    assert reward(prompts=["q"], completions=["a\n\nb"]) == [0.2]


def test_bad_ensembles():
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleScorer([])
    with pytest.raises(ValueError, match="unknown ensemble combination 'median'"):
        EnsembleScorer([Fixed([0.5])], "median")
    with pytest.raises(ValueError, match="k must be a number >= 0"):
        EnsembleScorer([Fixed([0.5])], "mean_std", k=-1)
    with pytest.raises(ValueError, match="split steps differently"):
        EnsembleScorer([Fixed([0.5]), Fixed([0.5], MATH_SHEPHERD)])

    class Short(Fixed):
        def score_steps(self, prompts, steps):
            return [[0.5] for _ in steps]

    with pytest.raises(ValueError, match=r"solution 0: members gave \[1, 2\] step scores for 2 steps"):
        EnsembleScorer([Fixed([0.5, 0.5]), Short([0.5])]).score_steps(["q"], [["a", "b"]])


def test_ensemble_of_reward_model_folders(tmp_path):
    folders = []
    for seed in (0, 1):
        tokenizer = tiny_tokenizer()
        model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer, seed=seed), tokenizer,
                                           RewardConfig(trained_heads=("step",)))
        with torch.no_grad():
            model.step_head.linear.weight.mul_(8)
        folders.append(model.save_pretrained(tmp_path / f"rm{seed}", tokenizer))
    prompts, steps = ["What is 3 + 4?"], [["3 + 4 = 7.", "The answer is 7."]]
    singles = [PRMScorer.from_pretrained(f).score_steps(prompts, steps)[0] for f in folders]
    ensemble = EnsembleScorer.from_pretrained(folders, "mean", batch_size=2)
    assert ensemble.trained_heads == ("step",)
    [combined] = ensemble.score_steps(prompts, steps)
    assert combined == pytest.approx([(a + b) / 2 for a, b in zip(*singles)], abs=1e-6)
    assert singles[0] != singles[1]
    with pytest.raises(ValueError, match="a list of reward-model folders"):
        EnsembleScorer.from_pretrained(str(folders[0]))
