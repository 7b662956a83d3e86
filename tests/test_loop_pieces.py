"""Pieces the loop proof stands on: disjoint synthetic splits, label/verifier checks against the
exact step truth, within-problem AUROC, ProcessBench's stratified sample, top-layer training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from prm.cli import main
from prm.data import read_problems
from prm.records import StepwiseSolution
from search.auroc import auroc, within_problem_auroc
from search.candidates import Candidate, ProblemCandidates, write_jsonl
from search.processbench import stratified_subset
from search.synthetic_eval import label_agreement, truth_report


def test_synthetic_splits_are_disjoint_by_id_and_question(tmp_path, capsys):
    out = tmp_path / "problems"
    assert main(["synthetic", "--out", str(out), "--split", "a=40", "b=30", "c=20"]) == 0
    splits = {name: read_problems(out / f"{name}.jsonl") for name in "abc"}
    assert [len(v) for v in splits.values()] == [40, 30, 20]
    ids = [p.id for v in splits.values() for p in v]
    questions = [p.question for v in splits.values() for p in v]
    assert len(set(ids)) == len(ids) and len(set(questions)) == len(questions)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["b"]["start"] == manifest["splits"]["a"]["end"]
    # The same command again is a no-op; other settings into the same folder are refused.
    assert main(["synthetic", "--out", str(out), "--split", "a=40", "b=30", "c=20"]) == 0
    assert main(["synthetic", "--out", str(out), "--split", "a=41"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["synthetic", "--out", str(tmp_path / "x"), "--split", "a"]) == 2
    assert "NAME=COUNT" in capsys.readouterr().err


def _problems(tmp_path):
    assert main(["synthetic", "--out", str(tmp_path / "p"), "--split", "t=3"]) == 0
    return read_problems(tmp_path / "p" / "t.jsonl")


def test_label_agreement_against_exact_truth(tmp_path):
    problems = _problems(tmp_path)
    reference = problems[0].reference_solution.split("\n\n")
    good = StepwiseSolution(prompt=problems[0].question, steps=tuple(reference), labels=tuple([1.0] * len(reference)))
    # The same right steps labelled bad from step 0: agreement 0 on those steps.
    bad = StepwiseSolution(prompt=problems[0].question, steps=tuple(reference), labels=tuple([0.0] * len(reference)))
    report = label_agreement(problems, [good, bad], [problems[0].id, problems[0].id])
    assert report["solutions"] == 2 and report["step_label_agreement"] == pytest.approx(0.5)
    assert report["first_error_accuracy"] == pytest.approx(0.5)
    assert label_agreement(problems, [good], [None])["solutions"] == 0


def _candidate(steps, correct, scores):
    return Candidate(text="\n\n".join(steps), steps=tuple(steps), answer="x", num_tokens=5, is_correct=correct,
                     step_scores=tuple(scores), outcome_score=scores[-1])


def test_truth_report_oracle_and_step_auroc(tmp_path):
    problems = _problems(tmp_path)
    p = problems[0]
    right = p.reference_solution.split("\n\n")
    wrong = ["1000 + 1 = 1001.", "The answer is 1001."]
    result = ProblemCandidates(problem_id=p.id, prompt=p.question, gold=p.answer, candidates=(
        _candidate(wrong, False, [0.9, 0.9]), _candidate(right, True, [0.8] * len(right))))
    report = truth_report(problems, [result], ["prm:min"])
    assert report["oracle_prm_accuracy"] == 1.0
    # Two wrong steps score 0.9, every right step 0.8: the PRM is perfectly wrong.
    assert report["step_auroc_vs_truth"] == 0.0 and report["unverifiable_steps"] == 0
    path = tmp_path / "bon.jsonl"
    write_jsonl([result], path)
    assert main(["eval", "truth", "--results", str(path), "--problems", str(tmp_path / "p" / "t.jsonl"),
                 "--out", str(tmp_path / "truth.json")]) == 0
    assert json.loads((tmp_path / "truth.json").read_text())[str(path)]["oracle_prm_accuracy"] == 1.0


def test_truth_report_says_why_best_of_n_misses(tmp_path):
    problems = _problems(tmp_path)
    p = problems[0]
    right = p.reference_solution.split("\n\n")
    slip = [*right[:-1], "The answer is 1001."]  # every step right but the last
    result = ProblemCandidates(problem_id=p.id, prompt=p.question, gold=p.answer, candidates=(
        _candidate(right, True, [0.8] * len(right)), replace(_candidate(slip, False, [0.8] * (len(slip) - 1) + [0.9]), answer="1001"),
        # No answer: never picked while an answered sample exists, whatever its score.
        Candidate(text="", steps=("1 + 1 = 2.",), answer=None, num_tokens=3, is_correct=False,
                  step_scores=(1.0,), outcome_score=1.0)))
    misses = truth_report(problems, [result], ["prm:mean"])["solution_keys"]["prm:mean"]["best_of_n_misses"]
    assert misses["problems_with_a_right_sample"] == 1 and misses["picked_wrong"] == 1
    assert misses["first_error_kind"] == {"wrong_answer": 1} and misses["first_error_in_last_step"] == 1
    assert misses["other_samples_with_the_picked_answer"] == {"0": 1}
    assert misses["first_error_step_score"] == {"mean": 0.9, "above_half": 1}
    # Scored the other way round, best-of-n is right and there is nothing to explain.
    fixed = ProblemCandidates(problem_id=p.id, prompt=p.question, gold=p.answer, candidates=result.candidates[:1])
    assert truth_report(problems, [fixed], ["prm:mean"])["solution_keys"]["prm:mean"]["best_of_n_misses"][
        "picked_wrong"] == 0


def test_within_problem_auroc_ignores_which_problems_are_easy():
    # Problem 1 is easy (all right, high scores), problem 2 hard; inside problem 2 the right
    # sample scores lowest: pooled AUROC looks good, the within-problem figure says 0.
    groups = [([0.9, 0.95], [True, True]), ([0.2, 0.1], [False, True])]
    pooled = auroc([0.9, 0.95, 0.2, 0.1], [True, True, False, True])
    assert pooled > 0.5
    assert within_problem_auroc(groups) == (0.0, 1)
    assert within_problem_auroc([([0.5], [True])]) == (None, 0)
    with pytest.raises(ValueError, match="NaN"):
        auroc([float("nan"), 0.1], [True, False])


def test_processbench_limit_is_a_stratified_seeded_sample():
    labels = [2] * 60 + [-1] * 40  # erroneous first, as the files are
    chosen = stratified_subset(labels, 50, seed=0)
    assert len(chosen) == 50 and chosen == sorted(chosen)
    assert sum(labels[i] >= 0 for i in chosen) == 30  # the file's 60:40
    assert chosen == stratified_subset(labels, 50, seed=0) != stratified_subset(labels, 50, seed=1)
    assert stratified_subset(labels, None) == list(range(100))
    assert stratified_subset(labels, 500) == list(range(100))


def test_train_and_eval_sample_processbench_the_same_way(tmp_path):
    """`prm train --eval-processbench` reads the subsets its folder holds with the sampling of
    `prm eval processbench`; a folder with none of them is refused."""
    import argparse

    from prm.cli.eval import read_processbench_sample
    from prm.cli.train import _processbench
    from prm.errors import OptionError

    rows = [{"id": f"g{i}", "generator": "m", "problem": f"q{i}", "steps": ["a", "b"], "label": 1 if i < 6 else -1,
             "final_answer_correct": i >= 6} for i in range(10)]
    (tmp_path / "gsm8k.json").write_text(json.dumps(rows))
    args = argparse.Namespace(eval_processbench=str(tmp_path), eval_processbench_limit=5, seed=3)
    subsets = _processbench(args)
    expected, _ = read_processbench_sample(str(tmp_path), ["gsm8k"], 5, 3)
    assert list(subsets) == ["gsm8k"]  # math.json etc. are absent: left out, not an error
    assert [s.meta["label"] for s in subsets["gsm8k"]] == [s.meta["label"] for s in expected["gsm8k"]]
    assert [s.prompt for s in subsets["gsm8k"]] == [s.prompt for s in expected["gsm8k"]]
    assert sum(s.meta["label"] >= 0 for s in subsets["gsm8k"]) == 3  # the file's 6:4
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OptionError, match="holds none of"):
        _processbench(argparse.Namespace(eval_processbench=str(empty), eval_processbench_limit=5, seed=3))


def test_train_top_layers_freezes_the_rest():
    from prm.modeling.reward_model import RewardConfig, RewardModel
    from prm.steps import StepFormat
    from prm.testing import tiny_causal_lm, tiny_tokenizer
    from prm.training.trainer import TrainConfig, decoder_layers, freeze_lower_layers

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(step_format=StepFormat()))
    layers = decoder_layers(model.backbone)
    trainable = freeze_lower_layers(model, 1)
    assert all(p.requires_grad for p in layers[-1].parameters())
    assert not any(p.requires_grad for layer in layers[:-1] for p in layer.parameters())
    assert not any(p.requires_grad for p in model.backbone.get_input_embeddings().parameters())
    heads = [p for name, p in model.named_parameters() if "head" in name]
    assert heads and all(p.requires_grad for p in heads)
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="layers"):
        freeze_lower_layers(model, len(layers) + 1)
    with pytest.raises(ValueError, match="pick one"):
        from prm.training.trainer import LoraOptions

        TrainConfig(output_dir="x", train_top_layers=2, lora=LoraOptions())
    assert np.isfinite(trainable)
