"""The Python API (`prm.api`, re-exported by `prm`): one call per task, plain values in and out.

Policies are scripted engines, scorers keyword fakes or tiny in-process reward models, and the
grader a string comparison (the README test runs the real grader)."""

from __future__ import annotations

import contextlib

import pytest

import prm
from prm.cli import wiring
from prm.engines.scripted import ScriptedEngine
from prm.records import Verdict
from tests.test_search_fakes import KeywordORM, KeywordPRM, extract_answer, grade

GOLDS = {"What is 3 + 4?": "7", "What is 6 * 7?": "42"}


def _script(prompt: str, index: int) -> str:
    """Even samples solve the problem with "good" steps; odd ones end on a "bad", wrong answer."""
    head, _, prefix = prompt.partition("Solution:\n\n")
    question = head.split("Problem: ", 1)[1].split("\n\n", 1)[0]
    last = f"The answer is {GOLDS[question]}." if index % 2 == 0 else "bad: the answer is 999."
    steps = [f"good: work on {question}", last]
    done = len([step for step in prefix.split("\n\n") if step.strip()])
    return "\n\n".join(steps[done:]) or last


@pytest.fixture
def fake_grader(monkeypatch):
    @contextlib.contextmanager
    def grader(timeout=2.0):
        yield extract_answer, grade

    monkeypatch.setattr(wiring, "grader", grader)
    monkeypatch.setattr(wiring, "solution_grader", lambda engine: lambda gold, text: (
        Verdict.CORRECT if extract_answer(text) == gold else Verdict.INCORRECT))


class _JointFake(KeywordPRM, KeywordORM):
    """A step and outcome scorer."""


def test_the_api_is_importable_from_prm():
    for name in prm.API:
        assert getattr(prm, name) is getattr(prm.api, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        prm.nothing  # noqa: B018


def test_score_one_solution_or_many_with_any_step_scorer():
    one = prm.score(KeywordPRM(), "What is 3 + 4?", ["good: 3 + 4 = 7.", "The answer is 7."])
    assert one.step_scores == (0.9, 0.5) and one.score == 0.5 and one.outcome_score is None
    text = prm.score(KeywordPRM(), "What is 3 + 4?", "good: 3 + 4 = 7.\n\nThe answer is 7.", aggregation="prod")
    assert text.step_scores == (0.9, 0.5) and text.score == pytest.approx(0.45)
    many = prm.score(_JointFake(), ["q1", "q2"], [["good"], ["bad", "good"]], aggregation="last")
    assert [s.score for s in many] == [0.9, 0.9] and [s.outcome_score for s in many] == [0.9, 0.2]
    with pytest.raises(ValueError, match="2 questions but 1 solutions"):
        prm.score(KeywordPRM(), ["q1", "q2"], [["good"]])


def test_load_scorer_and_score_match_the_toolkit_scorer(tmp_path):
    import torch

    from prm.modeling import RewardConfig, RewardModel
    from prm.scoring import PRMScorer
    from prm.testing import tiny_causal_lm, tiny_math_shepherd_prm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=("step", "outcome")))
    with torch.no_grad():
        model.step_head.linear.weight.mul_(8)
    model.save_pretrained(tmp_path / "rm", tokenizer)
    scorer = prm.load_scorer(tmp_path / "rm", device="cpu")
    assert isinstance(scorer, PRMScorer)
    steps = ["3 + 4 = 7.", "The answer is 7."]
    expected = PRMScorer(model, tokenizer).score([("What is 3 + 4?", steps)], aggregation="mean")[0]
    got = prm.score(scorer, "What is 3 + 4?", steps, aggregation="mean")
    assert got.step_scores == pytest.approx(expected.step_scores) and got.outcome_score == pytest.approx(expected.outcome_score)
    shepherd, shepherd_tokenizer = tiny_math_shepherd_prm()
    shepherd.save_pretrained(tmp_path / "shepherd")
    shepherd_tokenizer.save_pretrained(tmp_path / "shepherd")
    public = prm.load_scorer(tmp_path / "shepherd", kind="math_shepherd", device="cpu")
    assert type(public).__name__ == "LabelTokenPRM"
    assert len(prm.score(public, "What is 3 + 4?", steps).step_scores) == 2
    from prm.errors import OptionError

    with pytest.raises(OptionError, match="unknown convention"):
        prm.load_scorer(tmp_path / "rm", kind="nope")


def test_best_of_n_in_one_call(fake_grader):
    result = prm.best_of_n(list(GOLDS), list(GOLDS.values()), policy=ScriptedEngine(_script), prm=KeywordPRM(),
                           orm=KeywordORM(), n=4)
    assert result.score_key == "prm:min" and len(result.results) == 2
    assert result.accuracy() == 1.0 and result.accuracy("pass") == 1.0  # the wrong ones carry a "bad" step
    assert result.answers() == ["7", "42"] and result.answers("rm", "orm") == ["7", "42"]
    frame = result.to_frame()
    from search.best_of_n import selection_accuracy

    for rule, accuracy in frame.groupby("rule").correct.mean().items():
        method, _, key = rule.partition(":")
        assert accuracy == selection_accuracy(list(result.results), method, key or None), rule
    candidates = result.candidates_frame()
    assert len(candidates) == 8 and {"prm:min", "orm"} <= set(candidates.columns)
    assert candidates["is_correct"].tolist() == [True, False] * 4


def test_best_of_n_without_a_scorer_ranks_by_majority(fake_grader):
    result = prm.best_of_n(["What is 3 + 4?"], ["7"], policy=ScriptedEngine(_script), n=3)
    assert result.score_key is None and result.answers() == ["7"] and result.accuracy() == 1.0


def test_beam_search_in_one_call(fake_grader):
    result = prm.beam_search(list(GOLDS), list(GOLDS.values()), policy=ScriptedEngine(_script), prm=KeywordPRM(),
                             beam_width=2, n_candidates=4, max_steps=4)
    assert result.score_key == "prm:last" and result.accuracy() == 1.0
    assert all(r.meta["method"] == "beam" for r in result.results)
    with pytest.raises(ValueError, match="needs prm="):
        prm.beam_search(["q"], ["1"], policy=ScriptedEngine(_script), prm=None)


def test_label_in_one_call(fake_grader, tmp_path):
    labels = prm.label(list(GOLDS), list(GOLDS.values()), policy=ScriptedEngine(_script), samples=2, rollouts=2)
    assert [row["id"] for row in labels.rows] == ["0#0", "0#1", "1#0", "1#1"]
    frame = labels.to_frame()
    assert frame["correct"].tolist() == [True, False, True, False]
    assert frame["steps"].tolist() == [2, 2, 2, 2]
    assert labels.summary()["records"] == 4
    assert len(labels.steps_frame()) == 8
    path = labels.save(tmp_path / "labels.jsonl")
    assert wiring.recorded_step_format([str(path)]) == labels.step_format
    from prm.data.loading import load_stepwise

    assert len(load_stepwise(path, format="trl_stepwise")) == 4


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="questions is a str"):
        prm.best_of_n("What is 3 + 4?", policy=ScriptedEngine(_script))
    with pytest.raises(ValueError, match="2 questions but 1 answers"):
        prm.best_of_n(list(GOLDS), ["7"], policy=ScriptedEngine(_script))
    with pytest.raises(ValueError, match="needs answers="):
        prm.label(list(GOLDS), None, policy=ScriptedEngine(_script))
