"""Perturbation labels: one planted wrong result, carried forward, labelled from there on."""

from __future__ import annotations

import json
import random

import pytest

from labeling.perturb import PerturbConfig, perturb_steps, perturbed_rows
from prm.records import Problem
from prm.steps import StepFormat

FORMAT = StepFormat()

STEPS = ["She sold 48/2 = 24 clips in May.", "Then 48+24 = 72 clips in all.", "The answer is \\boxed{72}."]


def _gsm8k(i=0, answer=None):
    return Problem(id=f"p{i}", question="How many clips?", answer="72", source="gsm8k",
                   reference_solution=answer or "She sold 48/2 = <<48/2=24>>24 clips in May.\nThen 48+24 = <<48+24=72>>72 clips in all.")


def test_a_changed_result_is_carried_into_later_steps():
    indices = set()
    for seed in range(30):
        changed, index = perturb_steps(STEPS, random.Random(seed))
        indices.add(index)
        old = "24" if index == 0 else "72"
        new = changed[index].split("= ")[-1].split()[0]
        assert new != old and new.replace(".", "").isdigit()
        assert changed[:index] == STEPS[:index]
        if index == 0:
            assert changed[1:] == [f"Then 48+{new} = 72 clips in all.", STEPS[2]]
        else:
            assert changed[2] == f"The answer is \\boxed{{{new}}}."
    assert indices == {0, 1}  # the answer step has no "=" result of its own


def test_no_result_to_change_gives_none():
    assert perturb_steps(["First think.", "The answer is 3."], random.Random(0)) is None


def test_rows_label_the_reference_good_and_everything_from_the_error_bad():
    rows = list(perturbed_rows([_gsm8k()], PerturbConfig(negatives=3, seed=1), FORMAT))
    assert rows[0]["labels"] == [True, True, True] and rows[0]["correct"] is True and rows[0]["first_error"] == -1
    assert 2 <= len(rows) <= 4 and len({tuple(r["completions"]) for r in rows}) == len(rows)
    for row in rows[1:]:
        k = row["first_error"]
        assert row["labels"] == [i < k for i in range(3)]
        final_changed = "\\boxed{72}" not in row["completions"][-1]
        assert row["correct"] is (not final_changed)
        assert row["method"] == "perturb" and row["problem_id"] == "p0"


def test_same_seed_same_rows_and_missing_reference_raises():
    problems = [_gsm8k(i) for i in range(3)]
    assert list(perturbed_rows(problems, PerturbConfig(2, 5), FORMAT)) == list(perturbed_rows(problems, PerturbConfig(2, 5), FORMAT))
    with pytest.raises(ValueError, match="no reference_solution"):
        list(perturbed_rows([Problem(id="x", question="q?", answer="1")], PerturbConfig(), FORMAT))
    with pytest.raises(ValueError, match="negatives"):
        PerturbConfig(negatives=-1)


def test_prm_label_perturb_writes_rows_prm_train_reads(tmp_path):
    from prm.cli import main
    from prm.data import write_problems
    from prm.data.loading import load_stepwise

    write_problems([_gsm8k(i) for i in range(4)], tmp_path / "problems.jsonl")
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--problems", str(tmp_path / "problems.jsonl"), "--method", "perturb",
                 "--samples", "1", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and sum(r["first_error"] == -1 for r in rows) == 4
    solutions = load_stepwise(out)
    assert len(solutions) == 8 and all(s.labels is not None for s in solutions)
    assert main(["label", "--problems", str(tmp_path / "problems.jsonl"), "--method", "perturb",
                 "--shard", "0/2", "--out", str(out)]) == 2


def test_synthetic_reference_outcome_reads_the_last_number():
    from prm.data.synthetic import SyntheticConfig, make_problems

    problems = make_problems(20, SyntheticConfig(num_steps=(2, 3), seed=0))
    rows = list(perturbed_rows(problems, PerturbConfig(negatives=2), FORMAT))
    negatives = [r for r in rows if r["first_error"] >= 0]
    assert negatives and any(r["correct"] for r in negatives) and not all(r["correct"] for r in negatives)
    for row in negatives:
        last = row["completions"][-1]
        assert row["correct"] is (last == f"The answer is {row['answer']}.")
