"""Policy fine-tuning: prompt tokens carry no loss; parameters change and loss falls."""

from __future__ import annotations

import torch

from prm.records import Problem
from prm.engines.prompts import policy_prompt, resolve_template
from prm.sft import SFTConfig, finetune_policy, sft_examples
from tests.tiny import tiny_causal_lm, tiny_tokenizer


def _problems(n=8):
    return [
        Problem(id=str(i), question=f"What is {i} + 1?", answer=str(i + 1),
                reference_solution=f"{i} + 1 = {i + 1}.\n\nThe answer is {i + 1}.")
        for i in range(n)
    ]


def test_prompt_tokens_are_masked_and_eos_ends_the_target():
    tok = tiny_tokenizer()
    template = resolve_template(tok, chat=True)
    [row] = sft_examples(tok, _problems(1), template)
    prompt = policy_prompt("What is 0 + 1?", template)
    assert prompt.startswith("<|user|>")  # the tiny tokenizer's chat template
    prompt_len = len(tok.encode(prompt, add_special_tokens=True))
    assert row["labels"][:prompt_len] == [-100] * prompt_len
    assert row["labels"][prompt_len:] == row["input_ids"][prompt_len:]
    assert row["input_ids"][-1] == tok.eos_token_id


def test_finetune_changes_parameters_and_lowers_loss(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_causal_lm(tok)
    rows = sft_examples(tok, _problems())
    batch = {k: torch.tensor([r[k] for r in rows[:1]]) for k in ("input_ids", "labels")}
    with torch.no_grad():
        before = model(**batch).loss.item()
    snapshot = [p.detach().clone() for p in model.parameters()]
    finetune_policy(model, tok, _problems(), str(tmp_path), SFTConfig(epochs=8, learning_rate=3e-3, batch_size=4))
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert any(not torch.equal(a, b) for a, b in zip(snapshot, model.parameters()))
    assert after < before


def test_templates_resolve_once_for_every_stage():
    tok = tiny_tokenizer()
    plain = resolve_template(tok, "Q: {question}\nA:", chat=False)
    assert policy_prompt("2 + 2?", plain) == "Q: 2 + 2?\nA:"
    chat = resolve_template(tok, "Q: {question}")  # default: chat where the tokenizer has one
    assert policy_prompt("2 + 2?", chat) == "<|user|>Q: 2 + 2?\n<|assistant|>"
    import pytest

    with pytest.raises(ValueError, match="question"):
        resolve_template(tok, "no placeholder")
