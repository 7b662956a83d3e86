"""prm.rewards: TRL-style reward callables from a reward model, its outcome head and the grader."""

from __future__ import annotations

import pytest
import torch

from prm.grading import Grader, GradeResult, Verdict
from prm.modeling import RewardConfig, RewardModel
from prm.rewards import (
    OutcomeReward,
    StepReward,
    VerifiableReward,
    WeightedReward,
    completion_text,
    load_device,
    prompt_text,
)
from prm.scoring import PRMScorer
from prm.steps import MATH_SHEPHERD, StepFormat
from prm.testing import tiny_causal_lm, tiny_tokenizer

DEFAULT_FORMAT = StepFormat()


class ScriptedScorer:
    """Step probability from a table keyed by step text; records every call."""

    def __init__(self, table, step_format=DEFAULT_FORMAT, outcome=0.25):
        self.table, self.step_format, self.outcome = table, step_format, outcome
        self.calls = []

    def score_steps(self, prompts, steps):
        self.calls.append(("steps", list(prompts), [list(s) for s in steps]))
        return [[self.table[s] for s in solution] for solution in steps]

    def score_outcomes(self, prompts, steps):
        self.calls.append(("outcomes", list(prompts), [list(s) for s in steps]))
        return [self.outcome + 0.125 * len(solution) for solution in steps]


TABLE = {"3 + 4 = 7.": 0.9, "The answer is 7.": 0.6, "3 + 4 = 8.": 0.2, "So 8.": 0.5}
PROMPTS = ["What is 3 + 4?"] * 3
COMPLETIONS = ["3 + 4 = 7.\n\nThe answer is 7.", "3 + 4 = 8.\n\n\n\nSo 8.  ", ""]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("min", [0.6, 0.2, 0.0]), ("prod", [0.54, 0.1, 0.0]), ("last", [0.6, 0.5, 0.0]), ("mean", [0.75, 0.35, 0.0])],
)
def test_step_reward_splits_with_the_step_format_and_aggregates(aggregation, expected):
    scorer = ScriptedScorer(TABLE)
    reward = StepReward(scorer, aggregation)
    assert reward(prompts=PROMPTS, completions=COMPLETIONS) == pytest.approx(expected)
    # One batched call, blank steps dropped and stripped, the empty completion never scored.
    assert scorer.calls == [
        ("steps", PROMPTS[:2], [["3 + 4 = 7.", "The answer is 7."], ["3 + 4 = 8.", "So 8."]])
    ]
    assert reward.__name__ == f"prm_{aggregation}"


def test_step_reward_uses_the_folder_format_not_a_default():
    scorer = ScriptedScorer(TABLE, step_format=MATH_SHEPHERD)  # delimiter "\n"
    reward = StepReward(scorer, "min", empty_reward=-1.0)
    assert reward(prompts=["q", "q"], completions=["3 + 4 = 8.\nSo 8.", "  \n "]) == [0.2, -1.0]
    assert scorer.calls[0][2] == [["3 + 4 = 8.", "So 8."]]


def test_chat_messages_and_extra_trl_keywords():
    scorer = ScriptedScorer(TABLE)
    reward = StepReward(scorer, "last")
    prompts = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 3 + 4?"}]]
    completions = [[{"role": "assistant", "content": "3 + 4 = 7.\n\nThe answer is 7."}]]
    values = reward(prompts=prompts, completions=completions, completion_ids=[[1, 2]], trainer_state=None, answer=["7"])
    assert values == [0.6]
    assert scorer.calls[0][1] == ["What is 3 + 4?"]
    assert prompt_text("plain") == "plain" and completion_text({"role": "assistant", "content": "x"}) == "x"


@pytest.mark.parametrize(
    ("prompts", "completions", "match"),
    [
        (["q"], ["a", "b"], "1 prompts but 2 completions"),
        ("q", ["a"], "not a str"),
        (["q"], [42], r"completions\[0\] is int"),
        ([{"role": "user"}], ["a"], r"prompts\[0\] is dict"),
    ],
)
def test_bad_inputs_name_the_problem(prompts, completions, match):
    with pytest.raises(ValueError, match=match):
        StepReward(ScriptedScorer(TABLE))(prompts=prompts, completions=completions)


def test_bad_options():
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        StepReward(ScriptedScorer(TABLE), "max")

    class NoFormat:
        def score_steps(self, prompts, steps):
            return []

    with pytest.raises(ValueError, match="pass step_format="):
        StepReward(NoFormat())
    assert StepReward(NoFormat(), step_format=MATH_SHEPHERD).step_format is MATH_SHEPHERD
    assert load_device("cpu") == "cpu" and load_device("auto") in ("cpu", "cuda")


def test_outcome_reward():
    scorer = ScriptedScorer(TABLE)
    reward = OutcomeReward(scorer)
    assert reward(prompts=PROMPTS, completions=COMPLETIONS) == [0.5, 0.5, 0.0]
    assert scorer.calls[0][0] == "outcomes" and reward.__name__ == "orm"


def _folder(tmp_path, heads=("step", "outcome")):
    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=heads))
    with torch.no_grad():
        model.step_head.linear.weight.mul_(8)
        model.outcome_head.linear.weight.mul_(8)
    model.save_pretrained(tmp_path / "rm", tokenizer)
    return tmp_path / "rm"


def test_from_a_reward_model_folder_matches_the_scorer(tmp_path):
    folder = _folder(tmp_path)
    scorer = PRMScorer.from_pretrained(folder)
    steps = [s.split("\n\n") for s in COMPLETIONS[:1]] + [["3 + 4 = 8.", "So 8."]]
    expected = [r.score for r in scorer.score([(p, s) for p, s in zip(PROMPTS, steps)], "prod")]
    reward = StepReward.from_pretrained(folder, aggregation="prod", batch_size=2)
    got = reward(prompts=PROMPTS[:2], completions=COMPLETIONS[:2])
    assert got == pytest.approx(expected, abs=1e-6)
    assert all(0.0 < g < 1.0 for g in got) and got[0] != got[1]
    outcome = OutcomeReward.from_pretrained(folder)(prompts=PROMPTS[:2], completions=COMPLETIONS[:2])
    assert outcome == pytest.approx(scorer.score_outcomes(PROMPTS[:2], steps), abs=1e-6)


def test_a_step_only_folder_refuses_the_outcome_reward(tmp_path):
    reward = OutcomeReward.from_pretrained(_folder(tmp_path, heads=("step",)))
    with pytest.raises(ValueError, match="outcome head was not trained"):
        reward(prompts=["q"], completions=["a"])


def test_a_completion_past_max_length_still_gets_a_reward(tmp_path):
    reward = StepReward.from_pretrained(_folder(tmp_path), max_length=24)
    long = "\n\n".join(["3 + 4 = 7."] * 20)
    [value] = reward(prompts=["What is 3 + 4?"], completions=[long])
    assert 0.0 <= value <= 1.0


class ScriptedGrader:
    def __init__(self):
        self.calls = []

    def grade_solution(self, gold, text):
        self.calls.append((gold, text))
        verdict = Verdict.CORRECT if text.endswith(gold) else Verdict.INCORRECT
        return GradeResult(Verdict.UNGRADABLE if gold == "?" else verdict, "scripted")


def test_verifiable_reward_reads_gold_from_the_column():
    grader = ScriptedGrader()
    reward = VerifiableReward("solution", grader=grader, correct=1.0, incorrect=-0.5, ungradable=0.25)
    values = reward(prompts=["q"] * 4, completions=["so 7", "so 8", "so 7", "so 7"], solution=["7", "7", "?", None])
    assert values == [1.0, -0.5, 0.25, 0.25]
    assert grader.calls == [("7", "so 7"), ("7", "so 8"), ("?", "so 7")]  # None is never graded
    with pytest.raises(ValueError, match="column 'solution', which was not passed.*answer"):
        reward(prompts=["q"], completions=["7"], answer=["7"])
    with pytest.raises(ValueError, match="1 values in column 'solution' for 2 completions"):
        reward(prompts=["q", "q"], completions=["7", "7"], solution=["7"])


def test_verifiable_reward_with_the_real_grader():
    with Grader() as grader:
        reward = VerifiableReward(grader=grader)
        values = reward(prompts=["q", "q"], completions=["3 + 4 = 7.\n\nThe answer is \\boxed{7}.", "I am not sure."],
                        answer=["7", "7"])
    assert values == [1.0, 0.0]


def test_weighted_reward_sums_and_keeps_none():
    def constant(value):
        def reward(prompts, completions, **columns):
            return [value] * len(completions)
        return reward

    def maybe(prompts, completions, **columns):
        return [None if c == "skip" else 1.0 for c in completions]

    combined = WeightedReward([StepReward(ScriptedScorer({**TABLE, "skip": 0.0}), "min"), constant(2.0), maybe], [0.5, 0.25, 1.0])
    values = combined(prompts=["q", "q"], completions=["3 + 4 = 7.\n\nThe answer is 7.", "skip"], answer=["7", "7"])
    assert values[0] == pytest.approx(0.5 * 0.6 + 0.25 * 2.0 + 1.0)
    assert values[1] is None
    with pytest.raises(ValueError, match="2 weights for 1 rewards"):
        WeightedReward([maybe], [1.0, 2.0])
    with pytest.raises(ValueError, match="gave 1 values for 2 completions"):
        WeightedReward([lambda prompts, completions, **k: [1.0]])(prompts=["q", "q"], completions=["a", "b"])
