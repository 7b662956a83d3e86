"""PRMScorer: one forward per solution, batched and length-sorted, same as per-prefix scoring."""

from __future__ import annotations

import json
import math

import pytest
import torch

from prm.modeling import RewardConfig, RewardModel
from prm.records import StepwiseSolution
from prm.scores import OutcomeScorer, StepScorer, aggregate
from prm.scoring import PRMScorer
from prm.testing import tiny_causal_lm, tiny_tokenizer

PROMPTS = ["What is 3 + 4?", "Tom has 12 apples and gives away 5. How many are left?", "What is 6 * 7?"]
STEPS = [
    ["3 + 4 = 7.", "The answer is 7."],
    ["12 - 5 = 7.", "So 7 apples.", "The answer is 7."],
    ["6 * 7 = 42."],
]


def _model(padding_side="right", heads=()):
    tokenizer = tiny_tokenizer(padding_side)
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=heads))
    with torch.no_grad():  # spread the probabilities away from 0.5
        model.step_head.linear.weight.mul_(8)
        model.outcome_head.linear.weight.mul_(8)
    return model, tokenizer


class _Forwards:
    """Counts forward passes and records each batch's row lengths."""

    def __init__(self, model):
        self.batches = []
        model.register_forward_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs, output):
        self.batches.append(kwargs["attention_mask"].sum(-1).tolist())


def test_scorer_satisfies_both_protocols():
    model, tokenizer = _model()
    scorer = PRMScorer(model, tokenizer)
    assert isinstance(scorer, StepScorer) and isinstance(scorer, OutcomeScorer)


def test_one_forward_per_solution_batched_and_length_sorted():
    model, tokenizer = _model()
    forwards = _Forwards(model)
    scorer = PRMScorer(model, tokenizer, batch_size=2)
    prompts, steps = PROMPTS * 2, STEPS * 2
    scores = scorer.score_steps(prompts, steps)
    assert [len(s) for s in scores] == [len(s) for s in steps]
    assert len(forwards.batches) == math.ceil(len(prompts) / 2)
    lengths = [n for batch in forwards.batches for n in batch]
    assert len(lengths) == len(prompts)  # every solution is one row, never one per prefix
    assert lengths == sorted(lengths, reverse=True)
    assert all(0.0 <= p <= 1.0 for s in scores for p in s)
    for a, b in zip(scores[:3], scores[3:]):  # same solution, other batch mates: float noise only
        assert a == pytest.approx(b, abs=1e-5)


def test_scores_equal_per_prefix_scoring_and_single_rows():
    model, tokenizer = _model()
    scorer = PRMScorer(model, tokenizer, batch_size=3)
    batched = scorer.score_steps(PROMPTS, STEPS)
    single = PRMScorer(model, tokenizer, batch_size=1)
    for prompt, steps, scores in zip(PROMPTS, STEPS, batched):
        for k in range(len(steps)):
            (prefix,) = single.score_steps([prompt], [steps[: k + 1]])
            assert prefix[-1] == pytest.approx(scores[k], abs=1e-5)


def test_left_padding_tokenizer_scores_the_same():
    right_model, right_tok = _model("right")
    left_model, left_tok = _model("left")
    right = PRMScorer(right_model, right_tok, batch_size=3).score_steps(PROMPTS, STEPS)
    left = PRMScorer(left_model, left_tok, batch_size=3).score_steps(PROMPTS, STEPS)
    for a, b in zip(right, left):
        assert a == pytest.approx(b, abs=1e-5)


def test_score_aggregates_and_reports_outcome_only_when_trained():
    model, tokenizer = _model(heads=("step",))
    scorer = PRMScorer(model, tokenizer)
    records = [StepwiseSolution(p, tuple(s)) for p, s in zip(PROMPTS, STEPS)]
    steps = scorer.score_steps(PROMPTS, STEPS)
    for how in ("min", "prod", "last", "mean"):
        results = scorer.score(records, how)
        assert [r.score for r in results] == [aggregate(s, how) for s in steps]
        assert all(r.outcome_score is None and r.aggregation == how for r in results)
    with pytest.raises(ValueError, match="unknown aggregation"):
        scorer.score(records, "max")
    with pytest.raises(ValueError, match="outcome head was not trained"):
        scorer.score_outcomes(PROMPTS, STEPS)
    joint = PRMScorer(*_model(heads=("step", "outcome")))
    assert all(r.outcome_score is not None for r in joint.score(zip(PROMPTS, STEPS)))


def test_steps_and_outcomes_in_one_forward_equal_the_separate_calls():
    model, tokenizer = _model(heads=("step", "outcome"))
    scorer = PRMScorer(model, tokenizer)
    steps, outcomes = scorer.score_steps(PROMPTS, STEPS), scorer.score_outcomes(PROMPTS, STEPS)
    forwards = _Forwards(model)
    assert scorer.score_steps_and_outcomes(PROMPTS, STEPS) == list(zip(steps, outcomes))
    assert sum(len(batch) for batch in forwards.batches) == len(PROMPTS)  # one row per solution
    with pytest.raises(ValueError, match="outcome head was not trained"):
        PRMScorer(*_model(heads=("step",))).score_steps_and_outcomes(PROMPTS, STEPS)


def test_empty_solution_and_bad_inputs():
    scorer = PRMScorer(*_model())
    assert scorer.score_steps([PROMPTS[0]], [[]]) == [[]]
    assert scorer.score([(PROMPTS[0], [])])[0].score == 0.0
    with pytest.raises(ValueError, match="one per solution"):
        scorer.score_steps(PROMPTS, STEPS[:1])
    with pytest.raises(ValueError, match="list of steps"):
        scorer.score_steps(["q"], ["a single string"])
    with pytest.raises(ValueError, match="batch_size"):
        PRMScorer(scorer.model, scorer.tokenizer, batch_size=0)


def test_overflow_policies():
    model, tokenizer = _model()
    fits = PRMScorer(model, tokenizer).score_steps(PROMPTS[:1], STEPS[:1])[0]
    tight = PRMScorer(model, tokenizer, max_length=16)
    with pytest.raises(ValueError, match="does not fit max_length=16"):
        tight.score_steps(PROMPTS[:1], STEPS[:1])
    repeat = PRMScorer(model, tokenizer, max_length=16, overflow="repeat_last").score_steps(PROMPTS[:1], STEPS[:1])[0]
    assert repeat[0] == pytest.approx(fits[0], abs=1e-6) and repeat[1] == repeat[0]


def test_scores_identical_after_save_and_reload(tmp_path):
    model, tokenizer = _model(heads=("step", "outcome"))
    scorer = PRMScorer(model, tokenizer, batch_size=2)
    before = scorer.run(PROMPTS, STEPS)
    model.save_pretrained(tmp_path, tokenizer)
    after = PRMScorer.from_pretrained(tmp_path, batch_size=2).run(PROMPTS, STEPS)
    assert before == after


def test_score_cli_end_to_end(tmp_path, capsys):
    from prm.cli import main

    model, tokenizer = _model(heads=("step",))
    model.save_pretrained(tmp_path / "model", tokenizer)
    source = tmp_path / "in.jsonl"
    rows = [{"prompt": p, "completions": s, "id": str(i)} for i, (p, s) in enumerate(zip(PROMPTS, STEPS))]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    code = main(["score", "--model", str(tmp_path / "model"), "--input", str(source), "--output", str(out),
                 "--aggregation", "last", "--batch-size", "2"])
    assert code == 0
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    expected = PRMScorer(model, tokenizer).score_steps(PROMPTS, STEPS)
    assert [r["id"] for r in scored] == ["0", "1", "2"]
    for row, steps in zip(scored, expected):
        assert row["step_scores"] == pytest.approx(steps, abs=1e-6)
        assert row["score"] == pytest.approx(steps[-1], abs=1e-6) and row["aggregation"] == "last"
    assert "scored 3 solutions" in capsys.readouterr().out
    code = main(["score", "--model", str(tmp_path / "missing"), "--input", str(source), "--output", str(out)])
    assert code == 2 and "reward_config.json" in capsys.readouterr().err
    code = main(["score", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "nope.jsonl"), "--output", str(out)])
    assert code == 2 and "no such file" in capsys.readouterr().err
