"""ORM pieces: the outcome objectives, Bradley-Terry pair records and the outcome scorer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from orm import ORMScorer, PreferencePair, read_pairs
from orm.objectives import BRADLEY_TERRY, JOINT, OUTCOME
from prm.data import DataError
from prm.modeling import RewardConfig, RewardModel
from prm.scores import OutcomeScorer
from prm.scoring import PRMScorer
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import IGNORE, ObjectiveConfig
from prm.training.losses import loss_terms, objective_named, reduce_terms


def test_joint_loss_composed_from_orm_equals_the_weighted_step_and_outcome_means():
    step_logits = torch.tensor([[0.3, -1.2, 2.0], [0.5, 0.1, -0.7]])
    step_labels = torch.tensor([[1.0, 0.0, IGNORE], [0.25, IGNORE, 1.0]])
    outcome_logits = torch.tensor([0.8, -0.4, 1.5])
    outcome_labels = torch.tensor([1.0, IGNORE, 0.0])
    outputs = SimpleNamespace(step_logits=step_logits, outcome_logits=outcome_logits)
    batch = {"step_labels": step_labels, "outcome_labels": outcome_labels}
    loss = reduce_terms(loss_terms(ObjectiveConfig("joint", step_weight=0.7, outcome_weight=0.3), outputs, batch))
    steps, outcomes = step_labels != IGNORE, outcome_labels != IGNORE
    expected = 0.7 * F.binary_cross_entropy_with_logits(step_logits[steps], step_labels[steps]) + (
        0.3 * F.binary_cross_entropy_with_logits(outcome_logits[outcomes], outcome_labels[outcomes])
    )
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-7)
    orm_loss = reduce_terms(loss_terms(ObjectiveConfig("orm"), outputs, batch))
    torch.testing.assert_close(orm_loss, F.binary_cross_entropy_with_logits(outcome_logits[outcomes], outcome_labels[outcomes]))
    pair_logits = SimpleNamespace(outcome_logits=torch.tensor([1.0, 0.2, -0.5, 0.4]))  # chosen first, then rejected
    bt = reduce_terms(loss_terms(ObjectiveConfig("bradley_terry"), pair_logits, {}))
    torch.testing.assert_close(bt, -F.logsigmoid(torch.tensor([1.5, -0.2])).mean())
    assert [objective_named(o.name) for o in (OUTCOME, BRADLEY_TERRY, JOINT)] == [OUTCOME, BRADLEY_TERRY, JOINT]
    assert (JOINT.heads, OUTCOME.heads, BRADLEY_TERRY.pairs) == (("step", "outcome"), ("outcome",), True)


def test_the_core_alone_knows_the_step_objectives_and_says_where_the_outcome_ones_are():
    code = ("from prm.training import ObjectiveConfig, objective_names\n"
            "print(objective_names())\n"
            "try:\n    ObjectiveConfig('joint')\nexcept ValueError as e:\n    print(e)\n")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert "('hard', 'soft', 'label_token')" in out
    assert "import orm.objectives" in out


def test_pair_round_trip_and_validation():
    row = {"prompt": "What is 3 + 4?", "chosen": ["3 + 4 = 7."], "rejected": ["3 + 4 = 8."], "id": 5, "source": "x"}
    pair = PreferencePair.from_dict(row)
    assert pair.chosen == ("3 + 4 = 7.",) and pair.id == "5" and pair.meta == {"source": "x"}
    assert PreferencePair.from_dict(pair.to_dict()) == pair
    with pytest.raises(ValueError, match="missing field 'rejected'"):
        PreferencePair.from_dict({"prompt": "q", "chosen": ["a"]})
    with pytest.raises(ValueError, match="list of steps"):
        PreferencePair("q", "a whole solution", ("b",))
    with pytest.raises(ValueError, match="non-empty"):
        PreferencePair("q", (), ("b",))


def test_read_pairs_names_the_bad_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    good = {"prompt": "q", "chosen": ["a"], "rejected": ["b"]}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({"prompt": "q", "chosen": ["a"]}) + "\n")
    with pytest.raises(DataError, match=r"pairs.jsonl, line 3: field 'rejected': expected a pair field"):
        read_pairs(path)
    path.write_text(json.dumps({**good, "chosen": "a, joined"}) + "\n")  # steps must be a list
    with pytest.raises(DataError, match=r"pairs.jsonl, line 1: .*chosen must be a list of steps"):
        read_pairs(path)
    path.write_text(json.dumps(good)[:-1] + ', "prompt": "twice"}\n')  # the strict reader
    with pytest.raises(DataError, match=r"line 1.*duplicate"):
        read_pairs(path)
    path.write_text(json.dumps(good) + "\n")
    assert read_pairs(path) == [PreferencePair("q", ("a",), ("b",))]


def _model(heads):
    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=heads))
    return model, tokenizer


def test_orm_scorer_reads_the_outcome_head():
    model, tokenizer = _model(("outcome",))
    scorer = ORMScorer(model, tokenizer, batch_size=2)
    assert isinstance(scorer, OutcomeScorer)
    prompts = ["What is 3 + 4?", "What is 6 * 7?", "Hi?"]
    steps = [["3 + 4 = 7.", "The answer is 7."], ["6 * 7 = 42."], ["7."]]
    scores = scorer.score_outcomes(prompts, steps)
    expected = [outcome for _, outcome in PRMScorer(model, tokenizer, batch_size=3).run(prompts, steps)]
    assert scores == pytest.approx(expected, abs=1e-6)
    # The outcome head reads the last token: the score of a solution is the score of its full text.
    with torch.no_grad():
        encoded = model.step_format.encode(tokenizer, prompts[0], steps[0])
        direct = torch.sigmoid(model(input_ids=torch.tensor([encoded.input_ids])).outcome_logits)[0]
    assert scores[0] == pytest.approx(float(direct), abs=1e-6)


def test_orm_scorer_refuses_a_step_only_model():
    model, tokenizer = _model(("step",))
    with pytest.raises(ValueError, match="outcome head was not trained"):
        ORMScorer(model, tokenizer)
