"""The follow-up steps of `benchmarks/loop_synthetic.py` (run as a script, as
benchmarks/loop_followup.sh runs it): the labels-only lookup scorer and the validation choice
of model and aggregation by the PRM-weighted vote; and the fixed choices of
benchmarks/loop_seed.sh (seed 0's, for another seed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "loop_synthetic.py"
AGGREGATIONS = ("min", "prod", "last", "mean")


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _lines(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_label_lookup_scores_each_step_by_its_labels_alone(tmp_path):
    label = {"prompt": "q", "completions": ["1 + 1 = 3.", "The answer is 3."], "labels": [False, False]}
    _lines(tmp_path / "labels.jsonl", [label, label, {**label, "labels": [True, None]},
                                       {"prompt": "q", "completions": ["1 + 1 = 2."], "labels": [True]}])
    candidates = [{"text": "", "steps": ["1  +  1 = 3.", "The answer is 3."], "answer": "3", "is_correct": False},
                  {"text": "", "steps": ["1 + 1 = 2.", "Never seen."], "answer": "2", "is_correct": True}]
    _lines(tmp_path / "bon.jsonl", [{"problem_id": "p", "prompt": "q", "gold": "2", "candidates": candidates}])
    printed = _run("label-lookup", str(tmp_path), str(tmp_path / "bon.jsonl"), str(tmp_path / "out" / "bon.jsonl"))
    assert "3 never labelled" not in printed and "1 never labelled" in printed
    scored = json.loads((tmp_path / "out" / "bon.jsonl").read_text())["candidates"]
    # (good + 0.5) / (labelled + 1), whitespace folded; a null label is not counted; unseen: 0.5
    assert scored[0]["step_scores"] == [(1 + 0.5) / 4, (0 + 0.5) / 3]
    assert scored[1]["step_scores"] == [(1 + 0.5) / 2, 0.5]
    assert scored[0]["outcome_score"] == min(scored[0]["step_scores"])


def _validation(folder: Path, weighted: dict[str, list[int]], majority: list[int]) -> None:
    folder.mkdir(parents=True)
    hits = {"majority@16": majority}
    for agg in AGGREGATIONS:
        hits[f"weighted:prm:{agg}@16"] = weighted.get(agg, majority)
        hits[f"rm:prm:{agg}@16"] = majority
    (folder / "per_problem.json").write_text(json.dumps({"problem_ids": ["a", "b", "c", "d"], "hits": hits}))
    within = {f"prm:{agg}": 0.6 for agg in AGGREGATIONS}
    (folder / "summary.json").write_text(json.dumps({"methods": {"bon": {"within_problem_auroc": within}}}))


def test_choose_weighted_picks_the_best_validation_weighted_vote(tmp_path):
    _validation(tmp_path / "val_a", {"mean": [1, 1, 0, 0]}, [1, 0, 0, 0])
    _validation(tmp_path / "val_b", {"min": [1, 1, 1, 0]}, [1, 0, 0, 0])
    _run("choose-weighted", str(tmp_path), "fresh", f"A={tmp_path / 'val_a'}", f"B={tmp_path / 'val_b'}")
    choice = json.loads((tmp_path / "final_choice_fresh.json").read_text())
    assert (choice["model"], choice["aggregation"]) == ("B", "min")
    assert choice["weighted_at_n"] == 0.75 and choice["majority_at_n"] == 0.25
    assert choice["weighted_minus_majority"]["mean"] == 50.0
    assert len(choice["options"]) == 2 * len(AGGREGATIONS)


def test_fix_choices_writes_the_choice_files_the_report_reads(tmp_path):
    # benchmarks/loop_seed.sh makes no choice: it writes seed 0's, named as fixed.
    _run("fix-choices", str(tmp_path), "binary_search", "fit", str(tmp_path / "rm"), "mean")
    assert json.loads((tmp_path / "valcmp" / "choice.json").read_text())["method"] == "binary_search"
    assert json.loads((tmp_path / "recipe_choice.json").read_text())["recipe"] == "fit"
    assert (tmp_path / "final_recipe").read_text().strip() == "fit"
    final = json.loads((tmp_path / "final_choice.json").read_text())
    assert (final["model"], final["aggregation"]) == (str(tmp_path / "rm"), "mean")
    assert final["rule"].startswith("fixed")
