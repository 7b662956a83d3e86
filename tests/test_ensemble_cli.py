"""Ensembles of reward-model folders wherever the CLI takes a scorer: `prm search --prm A B`,
`prm eval auroc|calibration --prm A B`, with tiny in-process reward models."""

from __future__ import annotations

import json

import pytest
import torch

from prm.cli import main
from prm.data.io import write_jsonl as write_rows
from prm.ensemble import combine
from prm.modeling import RewardConfig, RewardModel
from prm.testing import tiny_causal_lm, tiny_tokenizer
from search.candidates import Candidate, ProblemCandidates

QUICK = ["--no-plot", "--bootstrap", "10", "--draws", "2"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    made = []
    for seed in (0, 1):
        tokenizer = tiny_tokenizer()
        model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer, seed=seed), tokenizer,
                                           RewardConfig(trained_heads=("step", "outcome")))
        with torch.no_grad():  # spread the untrained heads' outputs so members disagree
            model.step_head.linear.weight.mul_(8)
        made.append(str(model.save_pretrained(root / f"rm{seed}", tokenizer)))
    return made


@pytest.fixture
def saved_samples(tmp_path):
    steps = [("3 + 4 = 7.", "The answer is 7."), ("3 + 4 = 8.", "8 - 1 = 7.", "The answer is 7."), ("The answer is 9.",)]
    candidates = tuple(Candidate("\n\n".join(s), s, s[-1][-2], 4 * len(s), s[-1][-2] == "7") for s in steps)
    path = tmp_path / "bon.jsonl"
    write_rows([ProblemCandidates("p1", "What is 3 + 4?", "7", candidates, group_ids=(0, 0, 1)).to_dict()], path)
    return path


def _scores(folder):
    [row] = [json.loads(line) for line in open(folder / "bon.jsonl")]
    return [c["step_scores"] for c in row["candidates"]], [c["outcome_score"] for c in row["candidates"]]


def test_search_rescores_saved_samples_with_an_ensemble(folders, saved_samples, tmp_path, capsys):
    a, b = folders
    for name, models in (("a", [a]), ("b", [b]), ("ens", [a, b])):
        argv = ["search", "--results", str(saved_samples), "--prm", *models, "--orm", *models,
                "--ensemble", "mean_std", "--ensemble-k", "0.5", "--out", str(tmp_path / name), *QUICK]
        assert main(argv) == 0
    (steps_a, outcomes_a), (steps_b, outcomes_b) = _scores(tmp_path / "a"), _scores(tmp_path / "b")
    steps, outcomes = _scores(tmp_path / "ens")
    for mine, first, second in zip(steps, steps_a, steps_b):
        assert mine == pytest.approx([combine([x, y], "mean_std", 0.5) for x, y in zip(first, second)], abs=1e-5)
    assert outcomes == pytest.approx([combine([x, y], "mean_std", 0.5) for x, y in zip(outcomes_a, outcomes_b)],
                                     abs=1e-5)
    assert steps != steps_a
    summary = json.loads((tmp_path / "ens" / "summary.json").read_text())["methods"]["bon"]
    assert summary["scorer_tokens_per_problem"] > 0  # both members' reads are counted
    bias = summary["length_bias"]["prm:last"]
    assert set(bias) == {"length", "steps"} and set(bias["length"]) >= {"raw", "given_correctness"}
    assert "length bias" in capsys.readouterr().out
    assert main(["search", "--results", str(saved_samples), "--prm", a, b, "--orm", a, "--out",
                 str(tmp_path / "bad"), *QUICK]) == 2
    assert "--orm: 1 folders for 2 --prm folders" in capsys.readouterr().err


def test_eval_auroc_and_calibration_with_an_ensemble(folders, tmp_path, capsys):
    a, b = folders
    labelled = tmp_path / "labelled.jsonl"
    write_rows([{"prompt": "What is 3 + 4?", "completions": ["3 + 4 = 7.", "The answer is 7."], "labels": [True, True]},
                {"prompt": "What is 3 + 4?", "completions": ["3 + 4 = 8.", "The answer is 8."], "labels": [False, False]}],
               labelled)
    bench = tmp_path / "processbench"
    bench.mkdir()
    rows = [{"id": "g1", "problem": "What is 2 + 2?", "steps": ["2 + 2 = 4.", "The answer is 4."], "label": -1,
             "final_answer_correct": True},
            {"id": "g2", "problem": "What is 2 + 3?", "steps": ["2 + 3 = 6.", "6 - 1 = 5.", "The answer is 5."],
             "label": 0, "final_answer_correct": True}]
    (bench / "gsm8k.json").write_text(json.dumps(rows))
    assert main(["eval", "auroc", "--prm", a, b, "--ensemble", "min", "--data", str(labelled),
                 "--out", str(tmp_path / "auroc.json")]) == 0
    assert json.loads((tmp_path / "auroc.json").read_text())["steps"] == 4
    out = tmp_path / "cal"
    assert main(["eval", "calibration", "--prm", a, b, "--ensemble", "min", "--processbench", str(bench),
                 "--subsets", "gsm8k", "--data", str(labelled), "--no-plot", "--out", str(out)]) == 0
    sources = json.loads((out / "calibration.json").read_text())["sources"]
    # processbench: 2 good steps + the first (bad) step of g2; labelled: 2 good + 1 bad, cut after it
    assert (sources["processbench"]["steps"], sources["processbench"]["bad_steps"]) == (3, 1)
    assert (sources["labelled"]["steps"], sources["labelled"]["bad_steps"]) == (3, 1)
    assert 0.0 <= sources["labelled"]["ece"] <= 1.0
    assert "processbench: ECE" in capsys.readouterr().out
