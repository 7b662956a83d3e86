"""Policy fine-tuning: prompt tokens carry no loss; parameters change and loss falls."""

from __future__ import annotations

import json

import torch

from prm.engines.prompts import DEFAULT_TEMPLATE, policy_prompt, resolve_template
from prm.records import Problem
from prm.sft import SFTConfig, finetune_policy, sft_examples
from prm.steps import StepFormat
from prm.testing import tiny_causal_lm, tiny_tokenizer

FORMAT = StepFormat()


def _problems(n=8):
    return [
        Problem(id=str(i), question=f"What is {i} + 1?", answer=str(i + 1),
                reference_solution=f"{i} + 1 = {i + 1}.\n\nThe answer is {i + 1}.")
        for i in range(n)
    ]


def test_prompt_tokens_are_masked_and_eos_ends_the_target():
    tok = tiny_tokenizer()
    template = resolve_template(tok, chat=True)
    [row] = sft_examples(tok, _problems(1), template, FORMAT)
    prompt = policy_prompt("What is 0 + 1?", template)
    assert prompt.startswith("<|user|>")  # the tiny tokenizer's chat template
    prompt_len = len(tok.encode(prompt, add_special_tokens=True))
    assert row["labels"][:prompt_len] == [-100] * prompt_len
    assert row["labels"][prompt_len:] == row["input_ids"][prompt_len:]
    assert row["input_ids"][-1] == tok.eos_token_id


def test_finetune_changes_parameters_and_lowers_loss(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_causal_lm(tok)
    rows = sft_examples(tok, _problems(), DEFAULT_TEMPLATE, FORMAT)
    batch = {k: torch.tensor([r[k] for r in rows[:1]]) for k in ("input_ids", "labels")}
    with torch.no_grad():
        before = model(**batch).loss.item()
    snapshot = [p.detach().clone() for p in model.parameters()]
    finetune_policy(model, tok, _problems(), str(tmp_path), SFTConfig(epochs=8, learning_rate=3e-3, batch_size=4),
                    DEFAULT_TEMPLATE, FORMAT)
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


def _tokenizer_that_merges_blank_lines():
    """Byte-level BPE trained where blank lines are common, so "\n\n" alone is one token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(["3 + 4 = 7.\n\nThe answer is 7.\n\n"] * 50, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe)


def test_trailing_delimiter_is_tokenized_as_inside_text():
    from prm.engines.prompts import encode_prompt

    tok = _tokenizer_that_merges_blank_lines()
    prefix = "3 + 4 = 7.\n\n"
    plain = tok.encode(prefix, add_special_tokens=False)
    inside = tok.encode(prefix + "The answer is 7.", add_special_tokens=False)
    assert inside[: len(plain)] != plain  # the bug: alone, the blank line is a token never seen mid-text
    healed = encode_prompt(tok, prefix, add_special_tokens=False)
    assert inside[: len(healed)] == healed and tok.decode(healed) == prefix
    assert encode_prompt(tok, "3 + 4", add_special_tokens=False) == tok.encode("3 + 4", add_special_tokens=False)


def test_gsm8k_reference_becomes_one_step_per_line_with_a_boxed_answer():
    from prm.data.gsm8k import parse_gsm8k_rows
    from prm.sft import reference_steps

    answer = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    [problem] = parse_gsm8k_rows([(None, {"question": "How many clips?", "answer": answer})])
    assert reference_steps(problem, FORMAT) == [
        "Natalia sold 48/2 = 24 clips in May.", "She sold 48+24 = 72 clips.", "The answer is \\boxed{72}.",
    ]
    # other sources are split by the step format, unchanged
    assert reference_steps(_problems(1)[0], FORMAT) == ["0 + 1 = 1.", "The answer is 1."]


def test_prm_sft_cli_saves_a_policy_that_loads(tmp_path):
    from prm.cli import main
    from prm.data import write_problems
    from prm.modeling.loading import load_causal_lm

    tok = tiny_tokenizer()
    base = tmp_path / "base"
    tiny_causal_lm(tok).save_pretrained(base)
    tok.save_pretrained(base)
    write_problems(_problems(8), tmp_path / "train.jsonl")
    write_problems([Problem(id="h", question="What is 9 + 9?", answer="18")], tmp_path / "held.jsonl")
    out = tmp_path / "policy"
    code = main(["sft", "--data", str(tmp_path / "train.jsonl"), "--model", str(base), "--out", str(out),
                 "--eval-data", str(tmp_path / "held.jsonl"), "--eval-problems", "1", "--max-new-tokens", "4",
                 "--batch-size", "4", "--lr", "1e-3"])
    assert code == 0
    report = json.loads((out / "sft.json").read_text())
    assert report["problems"] == 8 and report["eval_problems"] == 1
    assert 0.0 <= report["accuracy_after"] <= 1.0
    model, _ = load_causal_lm(out)
    assert model.config.vocab_size == tok.vocab_size or model.config.vocab_size >= len(tok)


def test_prm_sft_refuses_held_out_questions_it_trains_on(tmp_path, capsys):
    from prm.cli import main
    from prm.data import write_problems

    write_problems(_problems(2), tmp_path / "train.jsonl")
    code = main(["sft", "--data", str(tmp_path / "train.jsonl"), "--eval-data", str(tmp_path / "train.jsonl"),
                 "--eval-problems", "1", "--out", str(tmp_path / "out")])
    assert code == 2 and "also training questions" in capsys.readouterr().err
