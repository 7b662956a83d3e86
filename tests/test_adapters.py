"""Adapters for public PRM conventions against plain reference computations on tiny models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from prm.modeling.adapters import (
    ClassificationHeadConfig,
    ClassificationHeadPRM,
    LabelTokenConfig,
    LabelTokenPRM,
    single_token_id,
)
from prm.scores import StepScorer
from prm.testing import tiny_causal_lm, tiny_math_shepherd_prm, tiny_qwen_prm, tiny_tokenizer

QUESTION = "Tom has 12 apples and gives away 5. How many are left?"
SOLUTIONS = [
    ["Step 1: 12 - 5 = 7.", "Step 2: The answer is 7."],
    ["We compute 12 + 5 = 17.", "So the total is 17.", "The answer is \\boxed{17}."],
    ["The answer is 7."],
]
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def _shepherd(padding_side: str = "right"):
    return tiny_math_shepherd_prm(padding_side)


def _qwen(padding_side: str = "right"):
    return tiny_qwen_prm(padding_side)


# ---------------------------------------------------------------- Math-Shepherd reference
def _shepherd_reference(model, tokenizer, question, steps):
    """The model card's computation, written out plainly."""
    good = tokenizer.convert_tokens_to_ids("+")
    bad = tokenizer.convert_tokens_to_ids("-")
    tag = tokenizer.convert_tokens_to_ids("ки")
    text = question + " " + "\n".join(f"{step} ки" for step in steps)
    input_ids = torch.tensor([tokenizer.encode(text)])
    with torch.no_grad():
        logits = model(input_ids).logits[:, :, [good, bad]]
    scores = logits.softmax(dim=-1)[:, :, 0]
    return scores[input_ids == tag].tolist()


def test_label_token_matches_reference_computation():
    model, tokenizer = _shepherd()
    prm = LabelTokenPRM(model, tokenizer, LabelTokenConfig(batch_size=2))
    assert isinstance(prm, StepScorer)
    scores = prm.score_steps([QUESTION] * len(SOLUTIONS), SOLUTIONS)
    for steps, got in zip(SOLUTIONS, scores):
        expected = _shepherd_reference(model, tokenizer, QUESTION, steps)
        assert len(got) == len(steps) == len(expected)
        assert got == pytest.approx(expected, abs=1e-5)


class _NoLogitsToKeep(torch.nn.Module):
    """A causal LM whose forward has no `logits_to_keep`: full (batch, seq, vocab) logits."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)


def test_label_token_without_logits_to_keep_gives_the_same_scores():
    model, tokenizer = _shepherd()
    kept = LabelTokenPRM(model, tokenizer).score_steps([QUESTION] * 3, SOLUTIONS)
    full_prm = LabelTokenPRM(_NoLogitsToKeep(model), tokenizer)
    assert not full_prm._keeps_logits
    for a, b in zip(kept, full_prm.score_steps([QUESTION] * 3, SOLUTIONS)):
        assert a == pytest.approx(b, abs=1e-5)


def test_label_token_ids_are_looked_up_from_the_tokenizer():
    model, tokenizer = _shepherd()
    prm = LabelTokenPRM(model, tokenizer)
    assert prm.tag_id == tokenizer.convert_tokens_to_ids("ки")
    assert (prm.good_id, prm.bad_id) == tuple(tokenizer.convert_tokens_to_ids(["+", "-"]))
    assert prm.build_text("Q?", ["a", "b"]) == "Q? a ки\nb ки"


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize(
    ("build", "adapter", "config"),
    [(_shepherd, LabelTokenPRM, LabelTokenConfig), (_qwen, ClassificationHeadPRM, ClassificationHeadConfig)],
    ids=["label_token", "classification_head"],
)
def test_left_and_right_padding_agree(build, adapter, config, batch_size):
    model, right = build("right")
    _, left = build("left")
    prompts = [QUESTION, "What is 3 + 4?", QUESTION]
    from_right = adapter(model, right, config(batch_size=batch_size)).score_steps(prompts, SOLUTIONS)
    from_left = adapter(model, left, config(batch_size=batch_size)).score_steps(prompts, SOLUTIONS)
    for a, b in zip(from_right, from_left):
        assert a == pytest.approx(b, abs=1e-5)


def test_label_token_custom_tokens_and_empty_solution():
    model, tokenizer = _shepherd()
    tokenizer.add_tokens(["<step>"])
    model.resize_token_embeddings(len(tokenizer))
    prm = LabelTokenPRM(model, tokenizer, LabelTokenConfig(good_token="7", bad_token="5", tag="<step>"))
    scores = prm.score_steps(["Q?", "Q?"], [["a", "b"], []])
    assert len(scores[0]) == 2 and scores[1] == []
    assert all(0.0 <= s <= 1.0 for s in scores[0])


def test_label_token_unknown_token_raises_clearly():
    model, tokenizer = _shepherd()
    with pytest.raises(ValueError, match=r"good label token '<\|good\|>' maps to \d+ tokens"):
        LabelTokenPRM(model, tokenizer, LabelTokenConfig(good_token="<|good|>"))
    plain = tiny_tokenizer()  # no "ки" entry: the tag is several byte tokens
    with pytest.raises(ValueError, match="step tag 'ки'"):
        LabelTokenPRM(tiny_causal_lm(plain), plain)


def test_label_token_config_validates():
    with pytest.raises(ValueError, match="batch_size"):
        LabelTokenConfig(batch_size=0)
    with pytest.raises(ValueError, match="must differ"):
        LabelTokenConfig(good_token="+", bad_token="+")
    with pytest.raises(ValueError, match="tag"):
        LabelTokenConfig(tag="")


def test_tag_inside_step_text_is_removed_and_prompt_tag_raises():
    model, tokenizer = _shepherd()
    prm = LabelTokenPRM(model, tokenizer)
    assert prm.build_text("Q", ["a ки b"]).count("ки") == 1
    with pytest.raises(ValueError, match="found 2 step-tag tokens"):
        prm.score_steps(["Q ки"], [["a"]])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        prm.score_steps(["Q", "R"], [["a"]])


def test_label_token_from_pretrained_local_folder(tmp_path):
    model, tokenizer = _shepherd()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = LabelTokenPRM.from_pretrained(tmp_path)
    expected = LabelTokenPRM(model, tokenizer).score_steps([QUESTION], SOLUTIONS[:1])
    assert loaded.score_steps([QUESTION], SOLUTIONS[:1])[0] == pytest.approx(expected[0], abs=1e-5)


# ------------------------------------------------------------- Qwen2.5-Math-PRM reference
def _qwen_reference(model, tokenizer, question, steps):
    """The model card's computation, written out plainly."""
    messages = [
        {"role": "system", "content": QWEN_SYSTEM},
        {"role": "user", "content": question},
        {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    input_ids = torch.tensor([tokenizer.encode(text)])
    with torch.no_grad():
        logits = model(input_ids=input_ids)[0]
    step_sep_id = tokenizer.encode("<extra_0>")[0]
    probabilities = F.softmax(logits, dim=-1)[input_ids == step_sep_id]
    return probabilities[:, 1].tolist()


def test_classification_head_matches_reference_computation():
    model, tokenizer = _qwen()
    prm = ClassificationHeadPRM(model, tokenizer, ClassificationHeadConfig(batch_size=2))
    assert isinstance(prm, StepScorer)
    assert prm.step_id == tokenizer.convert_tokens_to_ids("<extra_0>")
    scores = prm.score_steps([QUESTION] * len(SOLUTIONS), SOLUTIONS)
    for steps, got in zip(SOLUTIONS, scores):
        expected = _qwen_reference(model, tokenizer, QUESTION, steps)
        assert len(got) == len(steps) == len(expected)
        assert got == pytest.approx(expected, abs=1e-5)


def test_classification_head_unknown_token_raises_clearly():
    plain = tiny_tokenizer()
    model, _ = _qwen()
    with pytest.raises(ValueError, match=r"step token '<extra_0>' maps to \d+ tokens"):
        ClassificationHeadPRM(model, plain)
    with pytest.raises(ValueError, match="positive_index"):
        ClassificationHeadConfig(positive_index=2)


def test_classification_head_round_trips_qwen_folder_layout(tmp_path):
    from safetensors import safe_open

    model, tokenizer = _qwen()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
    assert {"score.0.weight", "score.2.weight", "model.embed_tokens.weight"} <= keys
    loaded = ClassificationHeadPRM.from_pretrained(tmp_path)
    # With a qwen2 config.json beside it, AutoTokenizer reloads the tiny tokenizer as a Qwen2
    # tokenizer (different pre-tokenizer), so the weights are compared under one tokenizer.
    expected = ClassificationHeadPRM(model, loaded.tokenizer).score_steps([QUESTION], SOLUTIONS[1:2])
    assert loaded.score_steps([QUESTION], SOLUTIONS[1:2])[0] == pytest.approx(expected[0], abs=1e-5)


def test_single_token_id():
    tokenizer = tiny_tokenizer()
    assert single_token_id(tokenizer, "+", "x") == tokenizer.convert_tokens_to_ids("+")
    with pytest.raises(ValueError, match="maps to 0 tokens"):
        single_token_id(tokenizer, "", "x")
