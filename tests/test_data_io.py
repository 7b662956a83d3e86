"""Bad input gets a clear error (file, line, field, what was expected); skips are counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prm.data import DataError, ReadReport, iter_rows, lfs_pointer, load_problems, load_stepwise, read_gsm8k
from prm.data.io import strict_loads

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def _error(call, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.mark.parametrize(
    "name, loader, line, field, words",
    [
        ("gsm8k_nan.jsonl", load_problems, 2, "score", "NaN"),
        ("gsm8k_duplicate_key.jsonl", load_problems, 2, "answer", "duplicate key"),
        ("gsm8k_missing_answer.jsonl", load_problems, 3, "answer", "no such field"),
        ("prm800k_rating_2.jsonl", load_stepwise, 1, "label.steps[1].completions[0].rating", "-1, 0, 1 or null"),
        ("math_shepherd_misaligned.jsonl", load_stepwise, 2, "label", "replaced by '+' or '-'"),
        ("gsm8k_torn_line.jsonl", load_problems, 2, None, "complete JSON value"),
    ],
)
def test_bad_input_names_file_line_and_field(name, loader, line, field, words):
    error = _error(loader, FIXTURES / name)
    message = str(error)
    assert isinstance(error, ValueError)
    assert name in message and f"line {line}:" in message
    assert error.line == line and error.field == field
    if field is not None:
        assert f"field {field!r}" in message
    assert words in message


def test_lfs_pointer_is_recognised():
    path = FIXTURES / "lfs_pointer.jsonl"
    assert lfs_pointer(path)["size"] == "446564"
    for loader in (load_problems, load_stepwise):
        message = str(_error(loader, path))
        assert "lfs_pointer.jsonl" in message and "Git LFS pointer" in message and "git lfs pull" in message
    # Even under the skip policy a pointer file is an error, not an empty file.
    assert "Git LFS pointer" in str(_error(read_gsm8k, path, on_error="skip"))


@pytest.mark.parametrize(
    "name, reason, kept",
    [
        ("gsm8k_nan.jsonl", "NaN or Infinity", 2),
        ("gsm8k_duplicate_key.jsonl", "duplicate key", 1),
        ("gsm8k_missing_answer.jsonl", "missing field 'answer'", 2),
        ("gsm8k_torn_line.jsonl", "invalid JSON", 2),
    ],
)
def test_skip_policy_counts_per_reason(name, reason, kept):
    report = ReadReport()
    problems = read_gsm8k(FIXTURES / name, on_error="skip", report=report)
    assert len(problems) == kept == report.records
    assert report.skipped == {reason: 1}
    assert report.examples and report.examples[0].reason == reason
    assert reason in report.summary()


def test_skip_policy_prm800k_and_shepherd():
    report = ReadReport()
    assert load_stepwise(FIXTURES / "prm800k_rating_2.jsonl", on_error="skip", report=report) == []
    assert report.skipped == {"bad rating": 1}
    report = ReadReport()
    records = load_stepwise(FIXTURES / "math_shepherd_misaligned.jsonl", on_error="skip", report=report)
    assert len(records) == 1 and report.skipped == {"misaligned label": 1}


def test_on_error_must_be_known():
    with pytest.raises(ValueError, match="on_error must be one of raise, skip"):
        read_gsm8k(FIXTURES / "gsm8k_nan.jsonl", on_error="ignore")


@pytest.mark.parametrize(
    "text, expected",
    [("NaN", "NaN"), ("[1, Infinity]", "Infinity"), ('{"a": [1, [-Infinity]]}', "-Infinity"), ('{"a": 1e999}', "overflows")],
)
def test_strict_loads_rejects_non_finite(text, expected):
    with pytest.raises(ValueError, match=expected):
        strict_loads(text)


def test_strict_loads_rejects_nested_duplicate_key():
    with pytest.raises(ValueError, match="duplicate key"):
        strict_loads('{"a": {"b": 1, "b": 2}}')
    assert strict_loads('{"a": {"b": 1.5}, "c": [null, true]}') == {"a": {"b": 1.5}, "c": [None, True]}


def test_json_array_locates_items_and_skips_strict_failures(tmp_path):
    path = tmp_path / "items.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2, "a": 3},\n  {"a": NaN},\n  {"a": 4}\n]\n')
    with pytest.raises(DataError, match=r"items.json, line 3: field 'a': expected each key once"):
        list(iter_rows(path))
    report = ReadReport()
    rows = list(iter_rows(path, on_error="skip", report=report))
    assert [(where.line, row) for where, row in rows] == [(2, {"a": 1}), (5, {"a": 4})]
    assert report.skipped == {"duplicate key": 1, "NaN or Infinity": 1} and report.rows == 2


def test_truncated_json_array_always_raises(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[\n  {"a": 1},\n  {"a": ')
    with pytest.raises(DataError, match=r"cut.json, line 3: expected one complete JSON value"):
        list(iter_rows(path, on_error="skip"))


def test_concatenated_json_objects(tmp_path):
    path = tmp_path / "pretty.json"
    path.write_text('{\n  "a": 1\n}\n{"a": 2}\n')
    assert [(w.line, r) for w, r in iter_rows(path)] == [(1, {"a": 1}), (4, {"a": 2})]


def test_parquet_rows_and_nan(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": [1.0, float("nan"), 2.0], "y": ["a", "b", None]}), path)
    with pytest.raises(DataError, match=r"rows.parquet, row 2: field 'x': expected finite numbers"):
        list(iter_rows(path))
    report = ReadReport()
    rows = list(iter_rows(path, on_error="skip", report=report))
    assert [(w.line, w.unit, r) for w, r in rows] == [(1, "row", {"x": 1.0, "y": "a"}), (3, "row", {"x": 2.0, "y": None})]
    assert report.skipped == {"NaN or Infinity": 1}


def test_missing_file_and_unknown_suffix(tmp_path):
    assert "no such file" in str(_error(read_gsm8k, tmp_path / "absent.jsonl"))
    other = tmp_path / "data.csv"
    other.write_text("a,b\n")
    assert "a file ending in .jsonl, .json, .parquet" in str(_error(read_gsm8k, other))


def test_not_an_object_and_wrong_type(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps([1, 2]) + "\n" + json.dumps({"question": 5, "answer": "#### 1"}) + "\n")
    report = ReadReport()
    assert read_gsm8k(path, on_error="skip", report=report) == []
    assert report.skipped == {"not an object": 1, "bad field 'question'": 1}
    assert "line 2: field 'question': expected a string, got 5" in str(report.examples[1])
