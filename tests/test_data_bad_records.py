"""Bad records every reader names by file, line and field, in raise and skip mode alike:
lone surrogates, empty required strings, duplicate ids, two GSM8K '####' markers, an empty
\\boxed{} gold, an out-of-range chosen_completion, and nesting too deep to parse. A UTF-8 BOM
is accepted."""

from __future__ import annotations

import json

import pytest

from orm import read_pairs
from prm.data import (
    DataError,
    PRM800KPolicy,
    ReadReport,
    read_gsm8k,
    read_math,
    read_math_shepherd,
    read_prm800k,
    read_prm800k_critic,
    read_problems,
    read_processbench,
    read_trl_stepwise,
)

GSM8K = {"question": "Q?", "answer": "work\n#### 3"}
MATH = {"problem": "P?", "solution": "so $\\boxed{2}$"}
PROBLEM = {"id": "p1", "question": "Q?", "answer": "1"}
TRL = {"id": "t1", "prompt": "P?", "completions": ["a", "b"], "labels": [True, False]}
BENCH = {"id": "b1", "problem": "P?", "steps": ["a", "b"], "label": -1, "final_answer_correct": True}
SHEPHERD = {"input": "P? Step 1: a ки Step 2: b ки", "label": "P? Step 1: a + Step 2: b -"}
CRITIC = {"instruction": "1+1?", "responses": [], "next_response": "2", "answer": None, "rating": 1,
          "is_human_response": False, "is_preferred_response": True, "is_solution": True}
PAIR = {"id": "x1", "prompt": "P?", "chosen": ["a"], "rejected": ["b"]}


def _raw(chosen):
    steps = [{"completions": [{"text": "s", "rating": 1}], "chosen_completion": 0},
             {"completions": [{"text": "t", "rating": 1}], "chosen_completion": chosen}]
    return {"question": {"problem": "1+1?", "ground_truth_answer": "2"}, "label": {"steps": steps, "finish_reason": "solution"}}


def _with(row, **changes):
    return {**row, **changes}


DEEP = '{"question": ' + "[" * 100_000 + "]" * 100_000 + ', "answer": "#### 1"}'
SURROGATE = '{"question": "Q \\ud800?", "answer": "#### 1"}'

# (reader, good row, bad line (a row, or raw JSON text), field named, skip reason)
CASES = {
    "lone surrogate": (read_gsm8k, GSM8K, SURROGATE, "question", "lone surrogate"),
    "surrogate in a step": (read_trl_stepwise, TRL, '{"prompt": "P", "completions": ["\\udfff"]}', "completions", "lone surrogate"),
    "too deep": (read_gsm8k, GSM8K, DEEP, None, "nesting too deep"),
    "too deep trl": (read_trl_stepwise, TRL, "[" * 50_000 + "]" * 50_000, None, "nesting too deep"),
    "two gsm8k markers": (read_gsm8k, GSM8K, _with(GSM8K, answer="a\n#### 1\n#### 2"), "answer", "two '####' markers"),
    "empty gsm8k question": (read_gsm8k, GSM8K, _with(GSM8K, question=" "), "question", "empty field 'question'"),
    "empty boxed gold": (read_math, MATH, _with(MATH, solution="so $\\boxed{}$"), "solution", "empty gold"),
    "empty math answer": (read_math, MATH, _with(MATH, answer=""), "answer", "empty gold"),
    "empty math problem": (read_math, MATH, _with(MATH, problem=""), "problem", "empty field 'problem'"),
    "empty problems gold": (read_problems, PROBLEM, _with(PROBLEM, id="p2", answer=""), "answer", "empty gold"),
    "duplicate problem id": (read_problems, PROBLEM, PROBLEM, "id", "duplicate id"),
    "empty prompt": (read_trl_stepwise, TRL, _with(TRL, id="t2", prompt=""), "prompt", "empty field 'prompt'"),
    "empty completion": (read_trl_stepwise, TRL, _with(TRL, id="t2", completions=["a", ""]), "completions[1]", "empty field 'completions'"),
    "duplicate stepwise id": (read_trl_stepwise, TRL, TRL, "id", "duplicate id"),
    "empty bench problem": (read_processbench, BENCH, _with(BENCH, id="b2", problem=""), "problem", "empty field 'problem'"),
    "empty bench step": (read_processbench, BENCH, _with(BENCH, id="b2", steps=["a", "  "]), "steps[1]", "empty field 'steps'"),
    "duplicate bench id": (read_processbench, BENCH, BENCH, "id", "duplicate id"),
    "empty shepherd step": (read_math_shepherd, SHEPHERD, {"input": "P? Step 1: a ки ки", "label": "P? Step 1: a + -"}, "input", "empty field 'input'"),
    "empty critic step": (read_prm800k_critic, CRITIC, _with(CRITIC, next_response=" "), "next_response", "empty field 'next_response'"),
    "chosen out of range": (read_prm800k, _raw(0), _raw(3), "label.steps[1].chosen_completion", "chosen_completion out of range"),
}


def _file(tmp_path, good, bad, suffix=".jsonl"):
    path = tmp_path / f"data{suffix}"
    bad_text = bad if isinstance(bad, str) else json.dumps(bad)
    third = {**good, "id": f"{good['id']}-3"} if "id" in good else good
    if "instruction" in good:  # a critic row: another problem, so not a second candidate of the first turn
        third = {**good, "instruction": "2+2?"}
    path.write_text(json.dumps(good) + "\n" + bad_text + "\n" + json.dumps(third) + "\n")
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_record_raises_naming_file_line_and_field(tmp_path, case):
    reader, good, bad, field, _ = CASES[case]
    path = _file(tmp_path, good, bad)
    with pytest.raises(DataError) as caught:
        reader(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 2, field), str(error)
    assert str(error).startswith(f"{path}, line 2: ")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_record_is_skipped_and_counted(tmp_path, case):
    reader, good, bad, field, reason = CASES[case]
    path = _file(tmp_path, good, bad)
    report = ReadReport()
    records = reader(path, on_error="skip", report=report)
    assert report.skipped == {reason: 1}, report.summary()
    assert report.examples[0].line == 2 and report.examples[0].field == field
    assert len(records) == 2


@pytest.mark.parametrize("case", ["duplicate problem id", "duplicate stepwise id", "duplicate bench id"])
def test_duplicate_id_skipped_in_skip_mode(tmp_path, case):
    reader, good, _, _, _ = CASES[case]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(good) + "\n" for _ in range(3)))
    report = ReadReport()
    assert len(reader(path, on_error="skip", report=report)) == 1
    assert report.skipped == {"duplicate id": 2}
    assert "also at" in str(report.examples[0]) and "line 1" in str(report.examples[0])


def test_out_of_range_chosen_completion_by_policy(tmp_path):
    path = _file(tmp_path, _raw(0), _raw(3))
    report = ReadReport()
    records = read_prm800k(path, PRM800KPolicy(alternatives=False, chosen_out_of_range="human"), report=report)
    assert len(records) == 3 and report.notes["chosen_completion out of range"] == 1
    with pytest.raises(ValueError, match="chosen_out_of_range"):
        PRM800KPolicy(chosen_out_of_range="ignore")


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GSM8K).encode() + b"\n")
    assert [p.answer for p in read_gsm8k(path)] == ["3"]
    array = tmp_path / "gsm8k.json"
    array.write_bytes(b"\xef\xbb\xbf" + json.dumps([BENCH]).encode())
    assert [r.id for r in read_processbench(array)] == ["b1"]


def test_deep_nesting_in_a_json_array_is_a_data_error(tmp_path):
    path = tmp_path / "math.json"
    path.write_text("[" + json.dumps(BENCH) + ",\n" + "[" * 100_000 + "]" * 100_000 + "]")
    for on_error in ("raise", "skip"):
        with pytest.raises(DataError, match="nesting too deep") as caught:
            read_processbench(path, on_error=on_error)
        assert caught.value.line == 2


@pytest.mark.parametrize(
    "bad, field",
    [(_with(PAIR, prompt=""), "prompt"), (_with(PAIR, chosen=[]), "chosen"), (_with(PAIR, rejected=["a", ""]), "rejected[1]"),
     (PAIR, "id"), (SURROGATE, "question")],
)
def test_bad_pairs(tmp_path, bad, field):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(PAIR) + "\n" + (bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    with pytest.raises(DataError) as caught:
        read_pairs(path)
    assert (caught.value.line, caught.value.field) == (2, field)
