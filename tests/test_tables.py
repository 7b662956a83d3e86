"""Result tables as DataFrames, written through pandas, with the files' old columns and values."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

import pytest

from prm.tables import read_table, write_table
from search.curves import CurveConfig, CurvePoint, evaluate_curves, read_curves_frame, write_curves_csv
from tests.test_curves import A, B


def _hand_written_csv(points) -> str:
    """What write_curves_csv wrote before pandas: csv.DictWriter over the CurvePoint fields."""
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=list(CurvePoint.__dataclass_fields__))
    writer.writeheader()
    for point in points:
        writer.writerow(asdict(point))
    return handle.getvalue()


def test_curves_csv_keeps_its_columns_and_every_cell(tmp_path):
    points = evaluate_curves([A, B], CurveConfig(draws=10, bootstrap=50)).points
    points.append(CurvePoint("rm:prm:min", 3, 0.1 + 0.2, 1 / 3, 1e-20, 2.5e17, "draws=7"))  # repr-sensitive floats
    write_curves_csv(points, tmp_path / "curves.csv")
    new = list(csv.reader(open(tmp_path / "curves.csv", newline="")))
    old = list(csv.reader(io.StringIO(_hand_written_csv(points), newline="")))
    assert new == old  # same header, same text in every cell (only the line ends are now "\n")
    frame = read_curves_frame(tmp_path / "curves.csv")
    assert frame.to_dict("records") == [asdict(p) for p in points]  # floats round-trip exactly


def test_curve_report_frames(tmp_path):
    report = evaluate_curves([A, B], CurveConfig(draws=10, bootstrap=50))
    frame = report.to_frame()
    assert list(frame.columns) == list(CurvePoint.__dataclass_fields__) and len(frame) == len(report.points)
    hits = report.per_problem_frame()
    assert list(hits.index) == ["A", "B"] and hits.loc["A", "rm:prm:min@4"] == 1.0
    assert hits.loc["A", "majority@4"] == 0.0
    differences = report.differences_frame()
    assert len(differences) == len(report.differences) and differences["significant"].dtype == bool
    pytest.importorskip("pyarrow")
    write_table(frame, tmp_path / "curves.parquet")
    assert read_table(tmp_path / "curves.parquet").equals(frame)


def test_write_table_names_a_bad_suffix_and_leaves_no_file(tmp_path):
    import pandas as pd

    with pytest.raises(ValueError, match=r"unknown table format '\.txt'.*\*\.csv or \*\.parquet"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.txt")
    assert list(tmp_path.iterdir()) == []


def test_outcomes_and_candidates_frames_of_a_result_file(tmp_path):
    from search.best_of_n import selection_accuracy
    from search.candidates import write_jsonl
    from search.tables import read_candidates_frame, read_outcomes_frame

    write_jsonl([A, B], tmp_path / "bon.jsonl")
    outcomes = read_outcomes_frame(tmp_path / "bon.jsonl")
    assert len(outcomes) == 2 * outcomes["rule"].nunique()
    for rule, accuracy in outcomes.groupby("rule").correct.mean().items():
        method, _, key = rule.partition(":")
        assert accuracy == selection_accuracy([A, B], method, key or None), rule
    picked = outcomes.set_index(["problem_id", "rule"])
    assert picked.loc[("A", "majority"), "answer"] == "2" and picked.loc[("A", "rm:orm"), "answer"] == "1"
    candidates = read_candidates_frame(tmp_path / "bon.jsonl")
    assert len(candidates) == 8 and candidates["group_id"].tolist()[:4] == [0, 1, 0, 0]
    assert candidates.loc[1, "prm:min"] == 0.9 and candidates.loc[1, "step_scores"] == [0.9]


def test_processbench_predictions_frame_adds_up_to_the_report():
    from search.processbench import predictions_frame, processbench_report, subset_score

    subsets = {"gsm8k": ([[0.9, 0.1], [0.9, 0.8], [0.2]], [1, -1, 0]), "math": ([[0.9, 0.9], [0.1, 0.9]], [-1, 1])}
    report = processbench_report(subsets)
    frame = predictions_frame(subsets, report["threshold"], {"gsm8k": ["a", "b", "c"]})
    assert list(frame.columns) == ["subset", "case", "id", "label", "prediction", "right", "steps", "min_score"]
    assert frame["id"].tolist()[:3] == ["a", "b", "c"] and frame["id"].isna().tolist()[3:] == [True, True]
    for name, rows in frame.groupby("subset"):
        assert subset_score(rows["prediction"].tolist(), rows["label"].tolist()).__dict__ == report["subsets"][name]
    assert frame["right"].tolist() == (frame["prediction"] == frame["label"]).tolist()


def test_prm_eval_processbench_writes_the_predictions_beside_the_report(tmp_path, monkeypatch, capsys):
    from prm import cli
    from prm.cli import wiring
    from tests.test_search_fakes import KeywordPRM

    data = tmp_path / "pb"
    data.mkdir()
    rows = [{"id": "g-0", "problem": "q", "steps": ["good", "bad"], "label": 1, "final_answer_correct": False},
            {"id": "g-1", "problem": "q", "steps": ["good", "good"], "label": -1, "final_answer_correct": True}]
    (data / "gsm8k.json").write_text(json.dumps(rows))
    monkeypatch.setattr(wiring, "load_scorers", lambda prm, orm, device, prm_kind=None, **kwargs: (KeywordPRM(), None))
    out = tmp_path / "report.json"
    assert cli.main(["eval", "processbench", "--prm", "P", "--data", str(data), "--subsets", "gsm8k",
                     "--out", str(out)]) == 0
    frame = read_table(tmp_path / "report.predictions.csv")
    assert frame["id"].tolist() == ["g-0", "g-1"] and frame["right"].tolist() == [True, True]
    assert json.loads(out.read_text())["subsets"]["gsm8k"]["f1"] == 100.0


def test_labels_frames_count_unlabelled_steps_as_missing(tmp_path):
    from labeling.tables import labels_frame, read_labels_frame, read_steps_frame
    from prm.data.io import write_jsonl

    rows = [
        {"id": "p#0", "problem_id": "p", "prompt": "q", "completions": ["a", "b", "c"], "labels": [True, None, False],
         "correct": False, "method": "math_shepherd", "first_error": 2, "mc_values": [1.0, None, 0.0],
         "rollouts": [2, 0, 2], "rollouts_drawn": 4, "generated_tokens": 30},
        {"id": "p#1", "problem_id": "p", "prompt": "q", "completions": ["a"], "labels": [0.75], "correct": True},
        {"id": "p#2", "problem_id": "p", "prompt": "q", "completions": ["a", "b"], "correct": None},
    ]
    frame = labels_frame(rows)
    assert frame["steps"].tolist() == [3, 1, 2]
    assert frame["labelled_steps"].tolist() == [2, 1, 0] and frame["good_steps"].tolist() == [1, 1, 0]
    assert frame["correct"].tolist() == [False, True, None] and frame["first_error"].isna().tolist() == [False, True, True]
    write_jsonl(rows, tmp_path / "labels.jsonl")
    assert read_labels_frame(tmp_path / "labels.jsonl")["labelled_steps"].tolist() == [2, 1, 0]
    steps = read_steps_frame(tmp_path / "labels.jsonl")
    assert len(steps) == 6 and steps["step"].tolist() == [0, 1, 2, 0, 0, 1]
    assert steps["label"].tolist()[:4] == [True, None, False, 0.75] and steps["mc_value"].tolist()[:3][0] == 1.0
    with pytest.raises(FileNotFoundError, match="prm label --out"):
        read_labels_frame(tmp_path / "missing.jsonl")
