"""ORM pieces: Bradley-Terry pair records and the outcome scorer."""

from __future__ import annotations

import json

import pytest
import torch

from orm import ORMScorer, PreferencePair, read_pairs
from prm.data import DataError
from prm.modeling import RewardConfig, RewardModel
from prm.scores import OutcomeScorer
from prm.scoring import PRMScorer
from prm.testing import tiny_causal_lm, tiny_tokenizer


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
