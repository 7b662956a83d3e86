"""Each reader on small hand-made inputs, with exact expected records."""

from __future__ import annotations

import json

import pytest

from prm.data import (
    DataError,
    PRM800KPolicy,
    ReadReport,
    detect_format,
    gsm8k_gold,
    load_problems,
    load_stepwise,
    processbench_labels,
    read_gsm8k,
    read_math,
    read_math_shepherd,
    read_prm800k,
    read_prm800k_critic,
    read_processbench,
    read_trl_stepwise,
)


def _jsonl(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# ---------------------------------------------------------------- GSM8K / MATH
@pytest.mark.parametrize(
    "text, gold",
    [("a\n#### 18", "18"), ("#### 2,125", "2125"), ("#### -3", "-3"), ("#### 1,234,567", "1234567"),
     ("#### -1,000", "-1000"), ("#### 0.5", "0.5"), ("#### 1,2", "1,2"), ("no marker", None)],
)
def test_gsm8k_gold(text, gold):
    assert gsm8k_gold(text) == gold


def test_read_gsm8k(tmp_path):
    path = _jsonl(tmp_path, "test.jsonl", [
        {"question": "Q1?", "answer": "Add <<2+3=5>>5.\n#### 2,125"},
        {"question": "Q2?", "answer": "Lose.\n#### -4"},
    ])
    first, second = read_gsm8k(path)
    assert (first.id, first.answer, first.reference_solution, first.source) == ("test-0", "2125", "Add <<2+3=5>>5.", "gsm8k")
    assert (second.id, second.answer) == ("test-1", "-4")


def test_read_gsm8k_model_solutions_and_bad_answer(tmp_path):
    path = _jsonl(tmp_path, "example_model_solutions.jsonl", [
        {"question": "Q?", "ground_truth": "work\nA: 1,800", "6b_finetuning": {"is_correct": False, "solution": "A: 3"}},
        {"question": "Q?", "answer": "no final line"},
    ])
    report = ReadReport()
    (problem,) = read_gsm8k(path, on_error="skip", report=report)
    assert (problem.answer, problem.reference_solution) == ("1800", "work")
    assert problem.meta["6b_finetuning"]["solution"] == "A: 3"
    assert "line 2: field 'answer': expected a solution ending in '#### <final answer>'" in str(report.examples[0])


def test_read_math(tmp_path):
    path = _jsonl(tmp_path, "m.jsonl", [
        {"problem": "P1", "solution": "so $\\boxed{3}$", "answer": "\\frac{1}{2}", "level": 2, "subject": "Algebra", "unique_id": "test/algebra/1.json"},
        {"problem": "P2", "solution": "first \\boxed{1} then \\boxed{\\frac{a}{b}}", "level": "Level 3", "type": "Algebra"},
        {"problem": "P3", "solution": "unclosed \\boxed{4"},
    ])
    report = ReadReport()
    one, two = read_math(path, on_error="skip", report=report)
    assert (one.id, one.answer, one.meta) == ("test/algebra/1.json", "\\frac{1}{2}", {"level": 2, "subject": "Algebra"})
    assert (two.id, two.answer, two.meta["level"]) == ("m-1", "\\frac{a}{b}", "Level 3")
    assert report.skipped == {"no answer": 1}
    assert "line 3: field 'solution': expected a complete \\boxed{...}" in str(report.examples[0])


# ---------------------------------------------------------------- PRM800K raw
def _step(ratings, chosen, human=None, texts=None):
    texts = texts or [f"c{i}" for i in range(len(ratings or ()))]
    completions = None if ratings is None else [{"text": t, "rating": r, "flagged": False} for t, r in zip(texts, ratings)]
    return {"completions": completions, "human_completion": human, "chosen_completion": chosen}


def _raw(steps, finish="solution", generation=None, screening=False, quality=False):
    return {
        "labeler": "x", "timestamp": "t", "generation": generation,
        "is_quality_control_question": quality, "is_initial_screening_question": screening,
        "question": {"problem": "What is 1+1?", "ground_truth_answer": "2"},
        "label": {"steps": steps, "total_time": 1, "finish_reason": finish},
    }


def test_prm800k_chosen_path_human_step_and_neutral_policies(tmp_path):
    human = {"text": "my step", "rating": None, "source": "human", "flagged": False}
    row = _raw([
        _step([1], 0, texts=["s0"]),
        _step([-1, -1], None, human=human),
        _step([0, 1], 0, texts=["s2", "other"]),
        _step([1], 0, texts=["# Answer\n\n2"]),
    ])
    path = _jsonl(tmp_path, "raw.jsonl", [row])
    (record,) = read_prm800k(path, PRM800KPolicy(alternatives=False))
    assert record.steps == ("s0", "my step", "s2", "# Answer\n\n2")
    assert record.labels == (1.0, None, 1.0, 1.0)
    assert (record.id, record.answer, record.prompt) == ("raw-1", "2", "What is 1+1?")
    assert record.meta["ratings"] == (1, None, 0, 1) and record.meta["human"] == (False, True, False, False)
    assert read_prm800k(path, PRM800KPolicy(alternatives=False, neutral="negative", unrated="positive"))[0].labels == (1.0, 1.0, 0.0, 1.0)
    assert read_prm800k(path, PRM800KPolicy(alternatives=False, neutral="drop"))[0].labels == (1.0, None, None, 1.0)
    cut = read_prm800k(path, PRM800KPolicy(alternatives=False, neutral="negative", cut_at_first_error=True))[0]
    assert cut.steps == ("s0", "my step", "s2") and cut.labels == (1.0, None, 0.0)


def test_prm800k_alternatives_one_record_per_candidate(tmp_path):
    row = _raw([
        _step([1, -1, None], 0, texts=["a", "b", "unrated"]),
        _step([-1, 1, 0], 1, texts=["c", "d", "e"]),
    ])
    records = read_prm800k(_jsonl(tmp_path, "raw.jsonl", [row]), PRM800KPolicy(alternatives=True))
    got = {(r.id, r.steps, r.labels) for r in records}
    assert got == {
        ("raw-1", ("a", "d"), (1.0, 1.0)),
        ("raw-1/alt-0-1", ("b",), (0.0,)),
        ("raw-1/alt-1-0", ("a", "c"), (1.0, 0.0)),
        ("raw-1/alt-1-2", ("a", "e"), (1.0, 1.0)),
    }


def test_prm800k_trajectory_ends(tmp_path):
    found_error = _raw([_step([1], 0, texts=["a"]), _step([1, -1, -1], None, texts=["x", "wrong", "w2"]), _step([1], 0)], finish="found_error")
    give_up = _raw([_step([1], 0, texts=["a"]), _step([1, -1], 7), _step(None, None)], finish="give_up")
    null_completions = _raw([_step([1], 0, texts=["a"]), _step(None, None)], finish="give_up")
    report = ReadReport()
    path = _jsonl(tmp_path, "raw.jsonl", [found_error, give_up, null_completions])
    one, two, three = read_prm800k(path, PRM800KPolicy(alternatives=False, chosen_out_of_range="human"), report=report)
    assert (one.steps, one.labels) == (("a", "wrong"), (1.0, 0.0))
    assert (two.steps, two.labels) == (("a",), (1.0,))
    assert (three.steps, three.labels) == (("a",), (1.0,))
    assert report.notes == {
        "found_error: first -1 candidate taken as the final step": 1,
        "steps after the end of a trajectory ignored": 2,
        "chosen_completion out of range": 1,
        "trajectory ended at a step with no chosen completion": 1,
        "trajectory ended at a step with no completions": 1,
    }


def test_prm800k_record_policies(tmp_path):
    rows = [
        _raw([_step([1], 0)]),
        _raw([_step([1], 0)], finish="bad_problem"),
        _raw([_step([1], 0)], generation=-1, screening=True),
        _raw([_step([1], 0)], quality=True),
        _raw([_step([1], None)], finish="give_up"),
    ]
    path = _jsonl(tmp_path, "raw.jsonl", rows)
    report = ReadReport()
    records = read_prm800k(path, PRM800KPolicy(alternatives=False), report=report)
    assert [r.id for r in records] == ["raw-1", "raw-4"]
    assert report.skipped == {"finish_reason bad_problem": 1, "initial-screening question": 1, "no chosen step": 1}
    report = ReadReport()
    records = read_prm800k(path, PRM800KPolicy(alternatives=False, bad_problem="keep", initial_screening="keep", quality_control="skip"), report=report)
    assert [r.id for r in records] == ["raw-1", "raw-2", "raw-3"]
    assert report.skipped == {"quality-control question": 1, "no chosen step": 1}


@pytest.mark.parametrize(
    "mutate, field, expected",
    [
        (lambda r: r["label"].update(finish_reason="done"), "label.finish_reason", "one of solution, found_error"),
        (lambda r: r["label"]["steps"][0]["completions"][0].update(rating=True), "label.steps[0].completions[0].rating", "-1, 0, 1 or null"),
        (lambda r: r["label"]["steps"][0]["completions"][0].update(rating=1.0), "label.steps[0].completions[0].rating", "-1, 0, 1 or null"),
        (lambda r: r["label"]["steps"][0].update(chosen_completion="0"), "label.steps[0].chosen_completion", "an integer index"),
        (lambda r: r["label"]["steps"][0].update(human_completion={"rating": None}), "label.steps[0].human_completion.text", "a string"),
        (lambda r: r["question"].pop("problem"), "question.problem", "a string, got no such field"),
        (lambda r: r["label"].pop("steps"), "label.steps", "a list, got no such field"),
    ],
)
def test_prm800k_bad_fields(tmp_path, mutate, field, expected):
    row = _raw([_step([1], 0)])
    mutate(row)
    with pytest.raises(DataError) as info:
        read_prm800k(_jsonl(tmp_path, "raw.jsonl", [_raw([_step([1], 0)]), row]))
    assert info.value.line == 2 and info.value.field == field and expected in str(info.value)


def test_policy_validation():
    with pytest.raises(ValueError, match="PRM800KPolicy.neutral must be one of positive, negative, drop, got 'zero'"):
        PRM800KPolicy(alternatives=False, neutral="zero")
    with pytest.raises(ValueError, match="quality_control must be one of skip, keep"):
        PRM800KPolicy(quality_control="drop")


# ---------------------------------------------------------------- PRM800K critic
def _critic(responses, text, rating, preferred=False, human=False, answer=None, solution=False, problem="P"):
    return {"instruction": problem, "responses": responses, "next_response": text, "answer": answer,
            "is_human_response": human, "is_solution": solution, "is_preferred_response": preferred, "rating": rating}


def test_critic_reconstruction(tmp_path):
    rows = [
        _critic([], "a", 1, preferred=True), _critic([], "b", -1),
        _critic(["a"], "c", 0), _critic(["a"], "mine", None, preferred=True, human=True),
        _critic(["a", "mine"], "so", 1, preferred=True, answer="7", solution=True), _critic(["a", "mine"], "no", -1, answer="8"),
        _critic([], "x", None, problem="Q"), _critic([], "y", None, problem="Q"),
        _critic([], "a2", 0, preferred=True), _critic(["a2"], "b2", -1),
    ]
    path = _jsonl(tmp_path, "c.stepwise-critic.jsonl", rows)
    report = ReadReport()
    records = read_prm800k_critic(path, PRM800KPolicy(alternatives=True), report=report)
    got = [(r.id, r.steps, r.labels) for r in records]
    assert got == [
        ("c.stepwise-critic-1", ("a", "mine", "so\n\n# Answer\n\n7"), (1.0, None, 1.0)),
        ("c.stepwise-critic-1/alt-0-2", ("b",), (0.0,)),
        ("c.stepwise-critic-1/alt-1-3", ("a", "c"), (1.0, 1.0)),
        ("c.stepwise-critic-1/alt-2-6", ("a", "mine", "no\n\n# Answer\n\n8"), (1.0, None, 0.0)),
        ("c.stepwise-critic-9", ("a2",), (1.0,)),
        ("c.stepwise-critic-9/alt-1-10", ("a2", "b2"), (1.0, 0.0)),
    ]
    assert records[0].meta["is_solution"] and records[0].meta["human"] == (False, True, False)
    assert report.skipped == {"conversation with no preferred step": 1}
    assert report.notes["conversations"] == 3 and report.notes["distinct problems"] == 2
    main = read_prm800k_critic(path, PRM800KPolicy(alternatives=False, neutral="negative", cut_at_first_error=True))
    assert [(r.steps, r.labels) for r in main] == [(("a", "mine", "so\n\n# Answer\n\n7"), (1.0, None, 1.0)), (("a2",), (0.0,))]


def test_critic_broken_conversation_and_bad_rating(tmp_path):
    rows = [_critic([], "a", 1, preferred=True), _critic(["zzz"], "b", 1, preferred=True)]
    with pytest.raises(DataError, match=r"line 2: field 'responses': expected the steps preferred"):
        read_prm800k_critic(_jsonl(tmp_path, "c.jsonl", rows))
    rows = [_critic([], "a", 2, preferred=True)]
    with pytest.raises(DataError, match=r"line 1: field 'rating': expected a rating of -1, 0, 1 or null, got 2"):
        read_prm800k_critic(_jsonl(tmp_path, "c.jsonl", rows))


# ---------------------------------------------------------------- Math-Shepherd, ProcessBench, TRL
def test_math_shepherd(tmp_path):
    text = "What is 2+3? Step 1: 2+3=5. ки\nStep 2: The answer is: 5 ки"
    path = _jsonl(tmp_path, "ms.jsonl", [{"input": text, "label": text.replace("ки", "+", 1).replace("ки", "-"), "task": "GSM8K"}])
    (record,) = read_math_shepherd(path)
    assert record.prompt == "What is 2+3?"
    assert record.steps == ("Step 1: 2+3=5.", "Step 2: The answer is: 5")
    assert record.labels == (1.0, 0.0) and record.meta == {"task": "GSM8K"} and record.id == "ms-0"


@pytest.mark.parametrize(
    "label, words",
    [("What is 2+3? Step 1: 2+3=5. *\nStep 2: 5 +", "'+' or '-' ending step 1"),
     ("What is 2+3? Step 1: 2+3=5. +\nStep 2: 5 + extra", "the end of the text"),
     ("What is 2+3? Step 1: 2+3=6. +\nStep 2: 5 +", "step 1 at character 25")],
)
def test_math_shepherd_misaligned(tmp_path, label, words):
    text = "What is 2+3? Step 1: 2+3=5. ки\nStep 2: 5 ки"
    path = _jsonl(tmp_path, "ms.jsonl", [{"input": text, "label": label}])
    with pytest.raises(DataError) as info:
        read_math_shepherd(path)
    assert info.value.field == "label" and info.value.line == 1 and words in str(info.value)


def test_processbench(tmp_path):
    assert processbench_labels(4, 1) == (1.0, 0.0, None, None)
    assert processbench_labels(2, -1) == (1.0, 1.0)
    assert processbench_labels(2, 0) == (0.0, None)
    path = tmp_path / "gsm8k.json"
    path.write_text(json.dumps([
        {"id": "gsm8k-0", "generator": "g", "problem": "P", "steps": ["a", "b", "c"], "final_answer_correct": False, "label": 1},
        {"id": "gsm8k-1", "generator": "g", "problem": "P", "steps": ["a"], "final_answer_correct": True, "label": 1},
    ], indent=1))
    report = ReadReport()
    (record,) = read_processbench(path, on_error="skip", report=report)
    assert record.labels == (1.0, 0.0, None) and record.id == "gsm8k-0"
    assert record.meta == {"generator": "g", "final_answer_correct": False, "label": 1, "subset": "gsm8k"}
    assert "line 14: field 'label': expected -1 or a step index in 0..0, got 1" in str(report.examples[0])


def test_trl_stepwise_jsonl_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": "P", "completions": ["a", "b"], "labels": [True, False], "id": "r1"},
            {"prompt": "P", "completions": ["a"], "labels": [0.25], "mc_values": [0.25]}]
    from_jsonl = read_trl_stepwise(_jsonl(tmp_path, "s.jsonl", rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "s.parquet")
    from_parquet = read_trl_stepwise(tmp_path / "s.parquet")
    assert from_jsonl[0].labels == (1.0, 0.0) and from_jsonl[0].id == "r1"
    assert from_jsonl[1].labels == (0.25,) and from_jsonl[1].meta["mc_values"] == [0.25]
    assert [(r.prompt, r.steps, r.labels) for r in from_parquet] == [(r.prompt, r.steps, r.labels) for r in from_jsonl]
    bad = _jsonl(tmp_path, "bad.jsonl", [{"prompt": "P", "completions": ["a"], "labels": [2]}, {"prompt": "P", "completions": ["a"], "labels": []}])
    report = ReadReport()
    assert read_trl_stepwise(bad, on_error="skip", report=report) == []
    assert report.skipped == {"bad field 'labels'": 1, "label count": 1}


# ---------------------------------------------------------------- dispatcher
def test_detect_format():
    assert detect_format({"question": "q", "answer": "a"}) == "gsm8k"
    assert detect_format({"problem": "p", "solution": "s"}) == "math"
    assert detect_format({"problem": "p", "steps": [], "label": -1}) == "processbench"
    assert detect_format({"input": "i", "label": "l"}) == "math_shepherd"
    assert detect_format({"prompt": "p", "completions": []}) == "trl_stepwise"
    assert detect_format(_critic([], "a", 1)) == "prm800k_critic"
    assert detect_format(_raw([])) == "prm800k"
    assert detect_format({"gold": "1", "pred": "1"}) is None


def test_dispatcher_by_shape_and_options(tmp_path):
    path = _jsonl(tmp_path, "raw.jsonl", [_raw([_step([0], 0)])])
    assert load_stepwise(path)[0].labels == (1.0,)
    assert load_stepwise(path, neutral="drop")[0].labels == (None,)
    with pytest.raises(ValueError, match="unknown option.*neutrall"):
        load_stepwise(path, neutrall="drop")
    shepherd = _jsonl(tmp_path, "ms.jsonl", [{"input": "Q Step 1: a ки", "label": "Q Step 1: a +"}])
    with pytest.raises(ValueError, match="format 'math_shepherd' takes no options"):
        load_stepwise(shepherd, neutral="drop")
    with pytest.raises(ValueError, match="cannot tell which reader fits"):
        load_problems(path)
    with pytest.raises(ValueError, match="format must be one of problems, gsm8k, math"):
        load_problems(path, format="prm800k")
    with pytest.raises(ValueError, match="hub datasets only"):
        load_problems(path, split="test")


def test_missing_local_path_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_problems(str(tmp_path / "nope.jsonl"))


def test_hub_name_offline_fails_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        load_problems("prm-toolkit-tests/no-such-dataset", split="test")
    message = str(info.value)
    assert "hub:prm-toolkit-tests/no-such-dataset" in message
    assert "Offline mode is on" in message and "pass a local file path" in message


def test_hub_rows_go_through_the_same_readers(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, config_name=None, split=None):
        calls.append((name, config_name, split))
        rows = {"question": ["Q1?", "Q2?"], "answer": ["x\n#### 1,000", "y\n#### -2"]}
        table = datasets.Dataset.from_dict(rows)
        return table if split else datasets.DatasetDict({"test": table, "train": table})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    report = ReadReport()
    problems = load_problems("openai/gsm8k", split="test", config_name="main", report=report)
    assert [(p.id, p.answer) for p in problems] == [("openai/gsm8k:test-0", "1000"), ("openai/gsm8k:test-1", "-2")]
    assert calls == [("openai/gsm8k", "main", "test")] and (report.rows, report.records) == (2, 2)
    with pytest.raises(ValueError, match="has splits test, train; pass split="):
        load_problems("openai/gsm8k")
