"""RLHFlow (chat "+"/"-") and Skywork (value head) PRM adapters against the authors' computations,
written out plainly, on tiny models of each architecture."""

from __future__ import annotations

import pytest
import torch

from prm.modeling.rlhflow import ChatLabelTokenConfig, ChatLabelTokenPRM
from prm.modeling.skywork import ValueHeadConfig, ValueHeadModel, ValueHeadPRM
from prm.scores import StepScorer
from prm.testing import tiny_rlhflow_prm, tiny_skywork_prm

QUESTION = "Tom has 12 apples and gives away 5. How many are left?"
SOLUTIONS = [
    ["Step 1: 12 - 5 = 7.", "Step 2: The answer is 7."],
    ["We compute 12 + 5 = 17.", "So the total is 17.", "The answer is \\boxed{17}."],
    ["The answer is 7."],
]


def _rlhflow_reference(model, tokenizer, question, steps):
    """The authors' loop: one conversation per prefix, P('+') from logits[-3] (Llama 3 template)."""
    plus, minus = tokenizer.encode("+", add_special_tokens=False)[-1], tokenizer.encode("-", add_special_tokens=False)[-1]
    conversation, scores = [], []
    for k, step in enumerate(steps):
        conversation.append({"role": "user", "content": question + " " + step if k == 0 else step})
        conversation.append({"role": "assistant", "content": "+"})
        text = tokenizer.apply_chat_template(conversation, tokenize=False)
        ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
        with torch.no_grad():
            logits = model(ids).logits[:, -3, [plus, minus]]
        scores.append(float(logits.softmax(dim=-1)[0, 0]))
    return scores


def _matches_the_reference(build, adapter, reference):
    """The adapter's scores of SOLUTIONS against the authors' computation; (adapter, tokenizer, scores)."""
    model, tokenizer = build()
    prm = adapter(model, tokenizer)
    assert isinstance(prm, StepScorer)
    got = prm.score_steps([QUESTION] * len(SOLUTIONS), SOLUTIONS)
    for steps, scores in zip(SOLUTIONS, got):
        assert scores == pytest.approx(reference(model, tokenizer, QUESTION, steps), abs=1e-5)
    return prm, tokenizer, got


def test_rlhflow_matches_the_reference_computation():
    prm, tokenizer, got = _matches_the_reference(tiny_rlhflow_prm, ChatLabelTokenPRM, _rlhflow_reference)
    # ids come from the tokenizer, and a step holding "+" itself is still read at its own turn
    assert prm.good_id == tokenizer.convert_tokens_to_ids("+")
    assert len(got[1]) == 3


def _skywork_reference(model, tokenizer, question, steps, step_token="\n"):
    """The authors' prepare_input and reward read-out, written out plainly."""
    response = step_token.join(steps) + step_token
    prompt_ids = tokenizer.encode(tokenizer.bos_token + question + "\n")
    step_token_id = tokenizer.encode(step_token)[-1]
    input_ids, flags = list(prompt_ids), [0] * len(prompt_ids)
    for step in response.split(step_token):
        if step == "":
            continue
        ids = tokenizer.encode(step) + [step_token_id]
        input_ids += ids
        flags += [0] * (len(ids) - 1) + [1]
    with torch.no_grad():
        hidden = model.lm(torch.tensor([input_ids]), output_hidden_states=True).hidden_states[-1]
        rewards = torch.sigmoid(model.v_head.summary(hidden).squeeze(-1))[0]
    return [float(rewards[i]) for i, flag in enumerate(flags) if flag]


def test_skywork_matches_the_reference_computation():
    prm, tokenizer, _ = _matches_the_reference(tiny_skywork_prm, ValueHeadPRM, _skywork_reference)
    assert prm.step_id == tokenizer.convert_tokens_to_ids(tokenizer.tokenize("\n")[0])
    # a step holding the step token is one step (the token becomes a space)
    assert len(prm.score_steps([QUESTION], [["12 - 5\n= 7."]])[0]) == 1


@pytest.mark.parametrize("build, adapter", [(tiny_rlhflow_prm, ChatLabelTokenPRM), (tiny_skywork_prm, ValueHeadPRM)])
def test_left_and_right_padding_and_batch_sizes_agree(build, adapter):
    config = ChatLabelTokenConfig(batch_size=1) if adapter is ChatLabelTokenPRM else ValueHeadConfig(batch_size=1)
    right = adapter(*build("right")).score_steps([QUESTION] * 3, SOLUTIONS)
    left = adapter(*build("left")).score_steps([QUESTION] * 3, SOLUTIONS)
    one = adapter(*build("right"), config).score_steps([QUESTION] * 3, SOLUTIONS)
    for a, b, c in zip(right, left, one):
        assert a == pytest.approx(b, abs=1e-5) and a == pytest.approx(c, abs=1e-5)


def test_folders_round_trip_and_are_reachable_by_prm_kind(tmp_path):
    from transformers import AutoTokenizer

    from prm.cli import wiring

    # (the tiny tokenizer does not round-trip every merge exactly, so both sides use the saved one)

    model, tokenizer = tiny_skywork_prm()
    model.save_pretrained(tmp_path / "skywork")
    tokenizer.save_pretrained(tmp_path / "skywork")
    assert isinstance(ValueHeadModel.from_pretrained(tmp_path / "skywork"), ValueHeadModel)
    assert wiring.prm_kind_of(tmp_path / "skywork") == "skywork_prm"
    expected = ValueHeadPRM(model, AutoTokenizer.from_pretrained(tmp_path / "skywork")).score_steps([QUESTION] * 3, SOLUTIONS)
    assert wiring.load_step_scorer(str(tmp_path / "skywork")).score_steps([QUESTION] * 3, SOLUTIONS) == expected

    model, tokenizer = tiny_rlhflow_prm()
    model.save_pretrained(tmp_path / "rlhflow")
    tokenizer.save_pretrained(tmp_path / "rlhflow")
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "rlhflow")
    expected = ChatLabelTokenPRM(model, reloaded_tokenizer).score_steps([QUESTION] * 3, SOLUTIONS)
    scorer = wiring.load_step_scorer(str(tmp_path / "rlhflow"), "rlhflow")
    assert scorer.score_steps([QUESTION] * 3, SOLUTIONS) == expected


def test_errors_name_the_fix():
    model, tokenizer = tiny_rlhflow_prm()
    with pytest.raises(ValueError, match="good label token"):
        ChatLabelTokenPRM(model, tokenizer, ChatLabelTokenConfig(good_token="yes!!"))
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        ChatLabelTokenPRM(model, tokenizer)
    model, tokenizer = tiny_skywork_prm()
    with pytest.raises(ValueError, match="step token"):
        ValueHeadPRM(model, tokenizer, ValueHeadConfig(step_token="\n\n\nzz"))
    with pytest.raises(ValueError, match="batch_size"):
        ValueHeadConfig(batch_size=0)
