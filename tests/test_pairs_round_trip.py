"""The preference-pair contract end to end: `prm label --pairs-out` writes what `prm train
--format pairs` reads, the trained ORM scores, and the pairs hold steps as lists throughout."""

from __future__ import annotations

import json

from orm import read_pairs
from prm.cli import main
from prm.records import PreferencePair
from prm.testing import save_tiny_backbone


def test_label_pairs_train_bradley_terry_then_score(tmp_path, capsys):
    labels, pairs_path = tmp_path / "labels.jsonl", tmp_path / "pairs.jsonl"
    assert main(["label", "--problems", "synthetic", "--engine", "simulated", "--limit", "6", "--samples", "4",
                 "--method", "none", "--sim-error-rate", "0.3", "--no-progress", "--out", str(labels),
                 "--pairs-out", str(pairs_path)]) == 0
    rows = [json.loads(line) for line in pairs_path.read_text().splitlines()]
    assert rows and all(isinstance(r["chosen"], list) and isinstance(r["rejected"], list) for r in rows)
    pairs = read_pairs(pairs_path)
    assert all(isinstance(p, PreferencePair) and p.chosen and p.rejected for p in pairs)
    solutions = {r["id"]: r for r in map(json.loads, labels.read_text().splitlines())}
    for pair in pairs:
        good, bad = pair.id.split(">")
        assert list(pair.chosen) == solutions[good]["completions"] and solutions[good]["correct"] is True
        assert list(pair.rejected) == solutions[bad]["completions"] and solutions[bad]["correct"] is False

    backbone = save_tiny_backbone(tmp_path / "backbone")
    model = tmp_path / "orm"
    capsys.readouterr()
    assert main(["train", "--data", str(pairs_path), "--format", "pairs", "--objective", "bradley_terry",
                 "--model", str(backbone), "--max-steps", "2", "--batch-size", "4", "--lr", "1e-3",
                 "--save-steps", "100", "--out", str(model)]) == 0, capsys.readouterr().err
    assert f"{len(pairs)} of {len(pairs)} records" in capsys.readouterr().out

    scored = tmp_path / "scored.jsonl"
    assert main(["score", "--model", str(model), "--input", str(labels), "--output", str(scored)]) == 0
    out = [json.loads(line) for line in scored.read_text().splitlines()]
    assert len(out) == len(solutions) and all(r["aggregation"] == "outcome" and 0 <= r["score"] <= 1 for r in out)
