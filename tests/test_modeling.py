"""RewardModel: step tag, heads, padding sides, plain Hugging Face folders."""

from __future__ import annotations

import json

import pytest
import torch

from prm.modeling import RewardConfig, RewardModel, last_token_index, load_reward_model, position_ids_from_mask
from prm.steps import MATH_SHEPHERD, StepFormat
from prm.testing import tiny_causal_lm, tiny_tokenizer

PROMPTS = ["What is 3 + 4?", "Tom has 12 apples and gives away 5. How many are left?"]
STEPS = [["3 + 4 = 7.", "The answer is 7."], ["12 - 5 = 7.", "So 7 apples.", "The answer is 7."]]


def _model(padding_side="right", reward_config=None):
    tokenizer = tiny_tokenizer(padding_side)
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, reward_config)
    return model.eval(), tokenizer


def _batch(model, tokenizer, side):
    fmt = model.step_format
    encoded = [fmt.encode(tokenizer, p, s) for p, s in zip(PROMPTS, STEPS)]
    width = max(len(e.input_ids) for e in encoded)
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    offsets = []
    for row, e in enumerate(encoded):
        start = width - len(e.input_ids) if side == "left" else 0
        ids[row, start : start + len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[row, start : start + len(e.input_ids)] = 1
        offsets.append(start)
    return encoded, ids, mask, offsets


def _scores(model, tokenizer, side):
    encoded, ids, mask, offsets = _batch(model, tokenizer, side)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    steps = [out.step_logits[r, [o + p for p in e.label_positions]] for r, (e, o) in enumerate(zip(encoded, offsets))]
    return steps, out.outcome_logits


def test_special_tag_is_added_and_embeddings_resized():
    tokenizer = tiny_tokenizer()
    before = len(tokenizer)
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer)
    assert len(tokenizer) == before + 1
    assert model.backbone.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert StepFormat().tag_ids(tokenizer) == [tokenizer.convert_tokens_to_ids("<|step|>")]
    assert not hasattr(model.backbone, "lm_head")  # hidden states only, no LM head


def test_existing_string_tag_leaves_vocabulary_alone():
    tokenizer = tiny_tokenizer()
    before = len(tokenizer)
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(MATH_SHEPHERD))
    assert len(tokenizer) == before
    assert model.backbone.get_input_embeddings().weight.shape[0] == before


def test_forward_shapes():
    model, tokenizer = _model()
    _, ids, mask, _ = _batch(model, tokenizer, "right")
    out = model(input_ids=ids, attention_mask=mask)
    assert out.step_logits.shape == ids.shape
    assert out.outcome_logits.shape == (ids.shape[0],)


def test_left_and_right_padding_give_the_same_scores():
    model, tokenizer = _model()
    right_steps, right_outcome = _scores(model, tokenizer, "right")
    left_steps, left_outcome = _scores(model, tokenizer, "left")
    for a, b in zip(right_steps, left_steps):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(right_outcome, left_outcome, atol=1e-5, rtol=1e-5)


def test_batched_rows_match_single_rows():
    model, tokenizer = _model()
    steps, outcome = _scores(model, tokenizer, "right")
    fmt = model.step_format
    for row, (prompt, solution) in enumerate(zip(PROMPTS, STEPS)):
        e = fmt.encode(tokenizer, prompt, solution)
        with torch.no_grad():
            out = model(input_ids=torch.tensor([e.input_ids]))
        torch.testing.assert_close(out.step_logits[0, list(e.label_positions)], steps[row], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.outcome_logits[0], outcome[row], atol=1e-5, rtol=1e-5)


def test_last_token_index_and_position_ids():
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]])
    assert last_token_index(right).tolist() == [2, 3, 0]
    assert last_token_index(left).tolist() == [3, 3, 3]
    assert position_ids_from_mask(left).tolist() == [[0, 0, 1, 2], [0, 1, 2, 3], [0, 0, 0, 0]]


def test_save_and_reload_give_identical_scores(tmp_path):
    from transformers import AutoModel

    model, tokenizer = _model(reward_config=RewardConfig(objective="hard", trained_heads=("step",)))
    with torch.no_grad():  # make the heads differ from their deterministic initialisation
        model.step_head.linear.bias.fill_(0.3)
        model.outcome_head.linear.weight.mul_(-2)
    steps, outcome = _scores(model, tokenizer, "right")
    model.save_pretrained(tmp_path, tokenizer)
    config = json.loads((tmp_path / "reward_config.json").read_text())
    assert config["objective"] == "hard" and config["step_format"]["tag"] == "<|step|>"
    assert AutoModel.from_pretrained(tmp_path).get_input_embeddings().weight.shape[0] == len(tokenizer)
    loaded, loaded_tokenizer = load_reward_model(tmp_path)
    assert len(loaded_tokenizer) == len(tokenizer)
    assert loaded.reward_config == model.reward_config
    steps2, outcome2 = _scores(loaded, loaded_tokenizer, "right")
    for a, b in zip(steps, steps2):
        assert torch.equal(a, b)
    assert torch.equal(outcome, outcome2)


def test_from_pretrained_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="reward_config.json"):
        RewardModel.from_pretrained(tmp_path)


def test_reward_config_validation():
    with pytest.raises(ValueError, match="trained_heads"):
        RewardConfig(trained_heads=("value",))
    with pytest.raises(ValueError, match="head_dropout"):
        RewardConfig(head_dropout=1.5)
    with pytest.raises(ValueError, match="unknown reward config keys"):
        RewardConfig.from_dict({"step_format": {}, "colour": "red"})
    config = RewardConfig(MATH_SHEPHERD, "joint", ("step", "outcome"))
    assert RewardConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
