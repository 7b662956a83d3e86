"""StepFormat: exact text round trips and label placement to the token."""

from __future__ import annotations

import pytest

from prm.records import StepwiseSolution, first_error_index
from prm.steps import MATH_SHEPHERD, StepFormat
from prm.testing import tiny_tokenizer


@pytest.mark.parametrize(
    "text",
    ["a\n\nb", "one step", "", "a\n\n\n\nb", "\n\nlead", "trail\n\n", "x\ny\n\nz", "ки\n\n+"],
)
def test_split_join_round_trip_is_exact(text):
    fmt = StepFormat()
    assert fmt.join(fmt.split(text)) == text


def test_split_drop_empty_strips_model_output():
    assert StepFormat().split("  a \n\n\n\n b\n\n", drop_empty=True) == ["a", "b"]


def test_bad_format_fields_raise_with_the_field_name():
    with pytest.raises(ValueError, match="delimiter"):
        StepFormat(delimiter="")
    with pytest.raises(ValueError, match="tag"):
        StepFormat(tag="")


class _WordTokenizer:
    """Every character is one token id (ord); BOS = 1. Makes positions easy to compute."""

    def encode(self, text, add_special_tokens=True):
        return ([1] if add_special_tokens else []) + [ord(c) for c in text]

    def __call__(self, texts, add_special_tokens=True):
        return {"input_ids": [self.encode(t, add_special_tokens) for t in texts]}


def test_encode_places_labels_at_the_last_tag_token():
    fmt = StepFormat(tag="#!", prompt_suffix=":")
    enc = fmt.encode(_WordTokenizer(), "Q", ["ab", "c"], labels=[1.0, 0.0])
    # [BOS, Q, :] [a, b, #, !] [c, #, !]
    assert enc.input_ids == (1, ord("Q"), ord(":"), ord("a"), ord("b"), ord("#"), ord("!"), ord("c"), ord("#"), ord("!"))
    assert enc.label_positions == (6, 9)
    assert enc.labels == (1.0, 0.0)
    assert enc.dropped_steps == 0


def test_encode_truncation_drops_whole_trailing_steps():
    fmt = StepFormat(tag="#", prompt_suffix="")
    tok = _WordTokenizer()
    enc = fmt.encode(tok, "Q", ["abc", "de", "f"], labels=[1, 1, 0], max_length=9)
    # BOS Q | a b c # (6) | d e # (9) | f # would be 11 > 9
    assert enc.input_ids == (1, ord("Q"), 97, 98, 99, 35, 100, 101, 35)
    assert enc.label_positions == (5, 8)
    assert enc.labels == (1, 1)
    assert enc.dropped_steps == 1
    none_fit = fmt.encode(tok, "Q", ["abcdefghij"], max_length=5)
    assert none_fit.kept_steps == 0 and none_fit.dropped_steps == 1


def test_encode_with_a_real_tokenizer_and_a_special_tag():
    tok = tiny_tokenizer()
    fmt = StepFormat()
    tok.add_special_tokens({"additional_special_tokens": [fmt.tag]})
    tag_id = tok.convert_tokens_to_ids(fmt.tag)
    assert fmt.tag_ids(tok) == [tag_id]
    enc = fmt.encode(tok, "What is 3 + 4?", ["3 + 4 = 7.", "The answer is 7."], labels=[1, 1])
    assert [enc.input_ids[p] for p in enc.label_positions] == [tag_id, tag_id]
    assert enc.input_ids.count(tag_id) == 2
    # Step ids are the step's own tokens: decoding between tags gives the step back.
    second = enc.input_ids[enc.label_positions[0] + 1 : enc.label_positions[1]]
    assert tok.decode(second) == "The answer is 7."


def test_math_shepherd_tag_is_looked_up_not_hard_coded():
    tok = tiny_tokenizer()
    ids = MATH_SHEPHERD.tag_ids(tok)
    assert tok.decode(ids) == " ки"


def test_records_round_trip_and_first_error():
    row = {"prompt": "Q", "completions": ["a", "b", "c"], "labels": [True, False, None], "id": "7", "source": "x"}
    solution = StepwiseSolution.from_dict(row)
    assert solution.labels == (1.0, 0.0, None)
    assert solution.first_error_index() == 1
    assert solution.to_dict() == row
    soft = StepwiseSolution(prompt="Q", steps=("a", "b"), labels=(0.75, 0.25))
    assert soft.is_soft and soft.to_dict()["labels"] == [0.75, 0.25]
    assert first_error_index([1.0, None, 0.9]) == -1


@pytest.mark.parametrize(
    "row, message",
    [
        ({"completions": ["a"]}, "prompt"),
        ({"prompt": "Q", "completions": "a"}, "completions"),
        ({"prompt": "Q", "completions": ["a"], "labels": [2]}, r"labels\[0\]"),
        ({"prompt": "Q", "completions": ["a"], "labels": [float("nan")]}, r"labels\[0\]"),
        ({"prompt": "Q", "completions": ["a", "b"], "labels": [True]}, "1 values but there are 2 steps"),
    ],
)
def test_bad_rows_name_the_field(row, message):
    with pytest.raises(ValueError, match=message):
        StepwiseSolution.from_dict(row)
