"""The toolkit's own problem rows round-trip through write_problems / load_problems."""

from __future__ import annotations

import pytest

from prm.data import DataError, load_problems, read_problems, write_problems
from prm.records import Problem


def test_problem_rows_round_trip_with_meta(tmp_path):
    problems = [
        Problem(id="p-0", question="What is 2 + 3?", answer="5", reference_solution="2 + 3 = 5.",
                source="synthetic", meta={"operations": [["+", 3]], "start": 2}),
        Problem(id="p-1", question="No answer known", answer=None),
    ]
    path = write_problems(problems, tmp_path / "problems.jsonl")
    assert read_problems(path) == problems
    loaded = load_problems(path)  # recognised by its keys
    assert loaded == problems and loaded[0].meta == {"operations": [["+", 3]], "start": 2}


def test_bad_problem_row_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "question": "Q", "answer": "1"}\n{"id": "b", "question": 3, "answer": "1"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl.*line 2.*question"):
        read_problems(path)


def test_rows_without_id_get_the_same_ids_from_either_entry_point(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "Q", "answer": "1", "reference_solution": "1."}\n')
    assert [p.id for p in read_problems(path)] == [p.id for p in load_problems(path)] == ["mine-0"]
