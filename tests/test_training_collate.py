"""Label alignment to the token: StepFormat.encode, encode_solution/encode_pair, the collator."""

from __future__ import annotations

import pytest
import torch

from prm.records import StepwiseSolution
from prm.steps import MATH_SHEPHERD, StepFormat
from prm.testing import tiny_tokenizer
from prm.training.collate import IGNORE, RewardCollator, encode_pair, encode_solution, outcome_label

PROMPT = "What is 3 + 4?"
STEPS = ("3 + 4 = 7.", "The answer is 7.")


@pytest.fixture()
def tokenizer():
    tokenizer = tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|step|>"]})
    return tokenizer


def _ids(tokenizer, text, special=False):
    return tokenizer.encode(text, add_special_tokens=special)


def test_encode_places_tag_after_each_step_and_label_on_tag(tokenizer):
    fmt = StepFormat()
    (tag,) = fmt.tag_ids(tokenizer)
    assert tag == tokenizer.convert_tokens_to_ids("<|step|>")
    prompt_ids = _ids(tokenizer, PROMPT + "\n\n", special=True)
    step0, step1 = _ids(tokenizer, STEPS[0]), _ids(tokenizer, STEPS[1])
    row = encode_solution(StepwiseSolution(PROMPT, STEPS, (1.0, 0.0)), tokenizer, fmt)
    assert row["input_ids"] == prompt_ids + step0 + [tag] + step1 + [tag]
    first = len(prompt_ids) + len(step0)
    assert row["label_positions"] == [first, first + len(step1) + 1]
    assert [row["input_ids"][p] for p in row["label_positions"]] == [tag, tag]
    assert row["step_labels"] == [1.0, 0.0]
    assert row["outcome_label"] == 0.0  # one bad step -> wrong solution
    assert row["dropped_steps"] == 0 and row["length"] == len(row["input_ids"])


def test_encode_concrete_ids_of_the_tiny_tokenizer(tokenizer):
    # Computed by hand from the tiny tokenizer's vocabulary: "What is 3 + 4?\n\n" is 8 tokens,
    # "3 + 4 = 7." 6 tokens, "The answer is 7." 5 tokens; <|step|> was added as id 400.
    row = encode_solution(StepwiseSolution(PROMPT, STEPS, (1.0, None)), tokenizer, StepFormat())
    assert row["input_ids"] == [
        399, 269, 279, 278, 262, 32, 200, 200,
        20, 278, 262, 267, 263, 15, 400,
        287, 313, 269, 263, 15, 400,
    ]
    assert row["label_positions"] == [14, 20]
    assert row["step_labels"] == [1.0, IGNORE]


def test_multi_token_tag_label_sits_on_its_last_token_and_never_merges(tokenizer):
    tag_ids = MATH_SHEPHERD.tag_ids(tokenizer)
    assert len(tag_ids) > 1  # " ки" is several byte tokens here
    row = encode_solution(StepwiseSolution(PROMPT, STEPS, (True, False)), tokenizer, MATH_SHEPHERD)
    prompt_ids = _ids(tokenizer, PROMPT + " ", special=True)
    step0 = _ids(tokenizer, STEPS[0])
    end0 = len(prompt_ids) + len(step0) + len(tag_ids) - 1
    assert row["label_positions"][0] == end0
    assert row["input_ids"][end0 - len(tag_ids) + 1 : end0 + 1] == tag_ids
    assert row["input_ids"][row["label_positions"][1]] == tag_ids[-1]


def test_truncation_drops_whole_trailing_steps(tokenizer):
    fmt = StepFormat()
    full = encode_solution(StepwiseSolution(PROMPT, STEPS, (1.0, 1.0)), tokenizer, fmt)
    first_tag = full["label_positions"][0]
    for max_length in (first_tag + 1, full["length"] - 1):
        row = encode_solution(StepwiseSolution(PROMPT, STEPS, (1.0, 1.0)), tokenizer, fmt, max_length)
        assert row["input_ids"] == full["input_ids"][: first_tag + 1]
        assert row["label_positions"] == [first_tag] and row["step_labels"] == [1.0]
        assert row["dropped_steps"] == 1
        assert row["outcome_label"] == IGNORE  # a cut solution has no outcome target
    row = encode_solution(StepwiseSolution(PROMPT, STEPS, (1.0, 1.0)), tokenizer, fmt, first_tag)
    assert row["label_positions"] == [] and row["step_labels"] == [] and row["dropped_steps"] == 2


def test_outcome_label_rules():
    assert outcome_label(StepwiseSolution("q", ("a", "b"), (1.0, 1.0))) == 1.0
    assert outcome_label(StepwiseSolution("q", ("a", "b"), (0.8, 0.3))) == 0.3
    assert outcome_label(StepwiseSolution("q", ("a", "b"), (None, None))) is None
    assert outcome_label(StepwiseSolution("q", ("a",), (0.0,), meta={"final_answer_correct": True})) == 1.0
    assert outcome_label(StepwiseSolution("q", ("a",))) is None


def test_encode_pair_sides(tokenizer):
    row = encode_pair(PROMPT, ["3 + 4 = 7."], ["3 + 4 = 8.", "So 8."], tokenizer, StepFormat())
    fmt = StepFormat()
    assert row["chosen_input_ids"] == list(fmt.encode(tokenizer, PROMPT, ["3 + 4 = 7."]).input_ids)
    assert row["rejected_input_ids"] == list(fmt.encode(tokenizer, PROMPT, ["3 + 4 = 8.", "So 8."]).input_ids)
    assert row["length"] == len(row["rejected_input_ids"]) and row["dropped_steps"] == 0


@pytest.mark.parametrize("side", ["right", "left"])
def test_collator_pads_and_spreads_labels(tokenizer, side):
    fmt = StepFormat()
    rows = [
        encode_solution(StepwiseSolution(PROMPT, STEPS, (1.0, None)), tokenizer, fmt),
        encode_solution(StepwiseSolution("Hi?", ("7.",), (0.25,)), tokenizer, fmt),
    ]
    batch = RewardCollator(tokenizer.pad_token_id, side)(rows)
    width = rows[0]["length"]
    assert batch["input_ids"].shape == (2, width)
    short = rows[1]["length"]
    offset = width - short if side == "left" else 0
    assert batch["input_ids"][1, offset : offset + short].tolist() == rows[1]["input_ids"]
    assert batch["attention_mask"][1].sum() == short
    pad = tokenizer.pad_token_id
    padded = [i for i in range(width) if not offset <= i < offset + short]
    assert all(batch["input_ids"][1, i] == pad for i in padded)
    expected = torch.full((2, width), IGNORE)
    expected[0, rows[0]["label_positions"][0]] = 1.0
    expected[1, rows[1]["label_positions"][0] + offset] = 0.25
    assert torch.equal(batch["step_labels"], expected)
    assert batch["outcome_labels"].tolist() == [1.0, 0.25]


def test_collator_pair_layout(tokenizer):
    fmt = StepFormat()
    rows = [encode_pair(PROMPT, ["a"], ["b", "c"], tokenizer, fmt), encode_pair("Q?", ["d"], ["e"], tokenizer, fmt)]
    batch = RewardCollator(tokenizer.pad_token_id)(rows)
    assert batch["input_ids"].shape[0] == 4
    assert batch["input_ids"][0, : len(rows[0]["chosen_input_ids"])].tolist() == rows[0]["chosen_input_ids"]
    assert batch["input_ids"][3, : len(rows[1]["rejected_input_ids"])].tolist() == rows[1]["rejected_input_ids"]
    assert "step_labels" not in batch


def test_collator_rejects_bad_options():
    with pytest.raises(ValueError, match="padding_side"):
        RewardCollator(0, "middle")
    with pytest.raises(ValueError, match="pad_token"):
        RewardCollator(None)  # type: ignore[arg-type]
