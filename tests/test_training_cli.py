"""`prm train` end to end on a tiny model folder, and its error messages."""

from __future__ import annotations

import json

import pytest

from prm.cli import main
from prm.testing import save_tiny_backbone


@pytest.fixture()
def backbone_folder(tmp_path):
    return save_tiny_backbone(tmp_path / "backbone")


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _stepwise(tmp_path):
    rows = [
        {"prompt": f"What is {i} + 4?", "completions": [f"{i} + 4 = {i + 4}.", f"The answer is {i + 4}."],
         "labels": [True, i % 2 == 0]}
        for i in range(6)
    ]
    return _write(tmp_path / "train.jsonl", rows)


@pytest.mark.slow
def test_train_then_score(tmp_path, backbone_folder, capsys):
    data = _stepwise(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--eval-data", str(data), "--model", str(backbone_folder),
                 "--objective", "joint", "--out", str(out), "--max-steps", "3", "--lr", "1e-3",
                 "--batch-size", "2", "--save-steps", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "rows             6 of 6 records" in captured.out and "eval loss" in captured.out
    # --save-total-limit 1 (the default) keeps the last checkpoint only: the final step 3 one
    assert (out / "reward_config.json").is_file() and (out / "checkpoint-3").is_dir()
    assert not (out / "checkpoint-2").exists()
    scored = tmp_path / "scored.jsonl"
    assert main(["score", "--model", str(out), "--input", str(data), "--output", str(scored)]) == 0
    rows = [json.loads(line) for line in scored.read_text().splitlines()]
    assert len(rows) == 6 and all(len(r["step_scores"]) == 2 and "outcome_score" in r for r in rows)


def test_train_errors_say_what_to_fix(tmp_path, backbone_folder, capsys):
    data = _stepwise(tmp_path)
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(tmp_path / "nope.jsonl"), "--backbone", str(backbone_folder), "--out", out]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--objective", "bradley_terry", "--out", out]) == 2
    assert "--format pairs" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "completions": ["a"], "labels": [2]}\n')
    assert main(["train", "--data", str(bad), "--backbone", str(backbone_folder), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and "line 1" in err
