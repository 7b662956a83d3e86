"""`prm search` and `prm eval` end to end, with the models, grader and data wiring faked."""

from __future__ import annotations

import contextlib
import json

import pytest

from prm import cli
from prm.cli import wiring
from prm.engines.scripted import ScriptedEngine
from tests.test_search_fakes import KeywordORM, KeywordPRM, extract_answer, grade


@pytest.fixture
def fake_models(monkeypatch):
    pytest.importorskip("prm.data.synthetic")
    from prm.data.synthetic import SyntheticConfig, make_problems

    by_question = {p.question: p for p in make_problems(5, SyntheticConfig(seed=0))}

    def script(prompt, index):
        question, prefix = prompt[2:].split("|", 1)
        problem = by_question[question]
        steps = problem.reference_solution.split("\n\n")
        done = len([s for s in prefix.split("\n\n") if s])
        rest = steps[done:] or ["The answer is " + problem.answer]
        if index % 2:  # odd samples end on a wrong, "bad" answer
            rest = rest[:-1] + ["bad: the answer is 999"]
        return "\n\n".join(rest)

    monkeypatch.setattr(wiring, "build_policy", lambda args: (ScriptedEngine(script), lambda p: f"Q:{p.question}|"))
    monkeypatch.setattr(wiring, "load_scorers", lambda prm, orm, device, prm_kind=None, **ensemble: (KeywordPRM() if prm else None, KeywordORM() if orm else None))

    @contextlib.contextmanager
    def fake_grader(timeout=2.0):
        yield extract_answer, grade

    monkeypatch.setattr(wiring, "grader", fake_grader)


def test_prm_search_writes_results_curves_plots_and_compute(fake_models, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["search", "--data", "synthetic", "--limit", "4", "--method", "bon", "beam", "dvts",
            "--prm", "P", "--orm", "O", "--n", "4", "--beam-width", "2", "--draws", "20", "--out", str(out)]
    assert cli.main(argv) == 0
    for name in ("bon.jsonl", "beam.jsonl", "dvts.jsonl", "curves.csv", "curves.json", "summary.json", "outcomes.csv", "curves.parquet"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 4
    bon = summary["methods"]["bon"]
    assert bon["accuracy_at_n"]["pass"] == 1.0
    assert bon["accuracy_at_n"]["rm:prm:min"] == 1.0  # the wrong answers carry a "bad" step
    assert bon["verifier_auroc"]["prm:min"] == 1.0 and set(bon["verifier_auroc"]) >= {"orm", "prm:last"}
    assert bon["generated_tokens_per_problem"] > 0
    assert summary["methods"]["beam"]["accuracy"]["prm:last"] == 1.0
    assert summary["methods"]["dvts"]["scored_prefixes_per_problem"] > 0
    printed = capsys.readouterr().out
    assert "majority" in printed and "beam: accuracy" in printed
    pytest.importorskip("matplotlib")
    assert (out / "accuracy_vs_k.png").is_file() and (out / "accuracy_vs_tokens.png").is_file()


def test_shards_merge_through_results(fake_models, tmp_path, capsys):
    base = ["search", "--data", "synthetic", "--limit", "4", "--prm", "P", "--n", "4", "--draws", "10", "--no-plot"]
    assert cli.main(base + ["--out", str(tmp_path / "all")]) == 0
    for shard in ("0/2", "1/2"):
        assert cli.main(base + ["--shard", shard, "--out", str(tmp_path / shard.replace("/", "of"))]) == 0
    merged = tmp_path / "merged"
    shards = [str(tmp_path / name / "bon.jsonl") for name in ("0of2", "1of2")]
    assert cli.main(["search", "--results", *shards, "--draws", "10", "--no-plot", "--out", str(merged)]) == 0
    whole = json.loads((tmp_path / "all" / "summary.json").read_text())["methods"]["bon"]["accuracy_at_n"]
    assert json.loads((merged / "summary.json").read_text())["methods"]["bon"]["accuracy_at_n"] == whole
    rows = sorted(json.loads(line)["problem_id"] for path in shards for line in open(path))
    assert rows == sorted(json.loads(line)["problem_id"] for line in open(tmp_path / "all" / "bon.jsonl"))


def test_results_rescored_with_a_new_verifier(fake_models, tmp_path, capsys):
    first = tmp_path / "sampled"
    base = ["--draws", "10", "--no-plot"]
    assert cli.main(["search", "--data", "synthetic", "--limit", "4", "--n", "4", "--out", str(first), *base]) == 0
    unscored = json.loads((first / "summary.json").read_text())["methods"]["bon"]["accuracy_at_n"]
    assert "rm:prm:min" not in unscored
    assert json.loads((first / "summary.json").read_text())["methods"]["bon"]["verifier_auroc"] == {}
    again = tmp_path / "rescored"
    saved = str(first / "bon.jsonl")
    assert cli.main(["search", "--results", saved, "--prm", "P", "--orm", "O", "--out", str(again), *base]) == 0
    bon = json.loads((again / "summary.json").read_text())["methods"]["bon"]
    assert bon["accuracy_at_n"]["rm:prm:min"] == 1.0 and bon["accuracy_at_n"]["pass"] == unscored["pass"]
    assert bon["scorer_tokens_per_problem"] == 0  # the fake scorers cannot count tokens
    rows = [json.loads(line) for line in open(again / "bon.jsonl")]
    assert all(c["step_scores"] for row in rows for c in row["candidates"])
    capsys.readouterr()
    assert cli.main(["search", "--results", saved, "--prm", "P", "--out", str(first), *base]) == 2
    assert "prm search: error: --out: would overwrite" in capsys.readouterr().err


def test_saved_beam_runs_join_the_summary_and_plot(fake_models, tmp_path, capsys):
    base = ["--data", "synthetic", "--limit", "4", "--prm", "P", "--draws", "10", "--no-plot"]
    assert cli.main(["search", *base, "--n", "4", "--out", str(tmp_path / "bon")]) == 0
    assert cli.main(["search", *base, "--method", "beam", "--n", "4", "--beam-width", "2",
                     "--out", str(tmp_path / "beam")]) == 0
    live = json.loads((tmp_path / "beam" / "summary.json").read_text())["methods"]["beam"]
    out = tmp_path / "joined"
    assert cli.main(["search", "--results", str(tmp_path / "bon" / "bon.jsonl"), "--beam-results",
                     str(tmp_path / "beam" / "beam.jsonl"), "--aggregation", "last", "--draws", "10", "--no-plot",
                     "--out", str(out)]) == 0
    joined = json.loads((out / "summary.json").read_text())["methods"]["beam M=2,N=4"]
    assert joined["accuracy"] == live["accuracy"] and joined["seconds"] is None
    assert joined["generated_tokens_per_problem"] == live["generated_tokens_per_problem"]
    assert json.loads((out / "curves.json").read_text())["beam"][0][0] == "beam M=2,N=4"
    assert "beam M=2,N=4: accuracy" in capsys.readouterr().out
    assert cli.main(["search", *base, "--beam-results", "x.jsonl", "--out", str(out)]) == 2
    assert "goes with --results" in capsys.readouterr().err


def test_beam_without_prm_is_refused(fake_models, tmp_path, capsys):
    argv = ["search", "--data", "synthetic", "--limit", "2", "--method", "beam", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("prm search: error: ") and "needs --prm" in error and "Traceback" not in error
    assert cli.main(["--debug", *argv]) == 2  # --debug: the traceback, then the same line
    error = capsys.readouterr().err
    assert "Traceback" in error and error.rstrip().splitlines()[-1].startswith("prm search: error: ")


def test_shard_slice():
    assert wiring.shard_slice(list(range(7)), "1/3") == [1, 4]
    with pytest.raises(ValueError, match="i/n"):
        wiring.shard_slice([1], "2")


def _write_processbench(folder, name, rows):
    (folder / f"{name}.json").write_text(json.dumps(rows))


def test_prm_eval_processbench_and_auroc(fake_models, tmp_path, capsys):
    pytest.importorskip("prm.data")
    rows = [
        {"id": f"x-{i}", "generator": "g", "problem": "p", "steps": steps, "final_answer_correct": label == -1, "label": label}
        for i, (steps, label) in enumerate([(["ok", "ok"], -1), (["ok", "bad", "ok"], 1), (["bad"], 0), (["ok"], -1)])
    ]
    for name in ("gsm8k", "math"):
        _write_processbench(tmp_path, name, rows)
    report_path = tmp_path / "pb.json"
    argv = ["eval", "processbench", "--prm", "P", "--data", str(tmp_path), "--subsets", "gsm8k", "math",
            "--out", str(report_path)]
    assert cli.main(argv) == 0
    report = json.loads(report_path.read_text())
    assert report["tuned_on"] == "gsm8k" and 0.2 < report["threshold"] <= 0.5
    assert report["average_f1"] == 100.0
    assert "average F1" in capsys.readouterr().out

    stepwise = tmp_path / "steps.jsonl"
    stepwise.write_text(
        "\n".join(json.dumps({"prompt": "p", "completions": c, "labels": l}) for c, l in
                  [(["ok", "bad"], [True, False]), (["good", "ok"], [True, True]), (["bad"], [False])]) + "\n"
    )
    assert cli.main(["eval", "auroc", "--prm", "P", "--data", str(stepwise), "--out", str(tmp_path / "a.json")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["auroc"] == 1.0


def test_a_bad_beam_option_is_refused_before_anything_is_sampled(fake_models, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["search", "--data", "synthetic", "--limit", "2", "--method", "bon", "beam", "--prm", "P",
            "--n", "4", "--beam-width", "3", "--out", str(out)]
    assert cli.main(argv) == 2
    assert "multiple of beam_width" in capsys.readouterr().err
    assert not (out / "bon.jsonl").exists()  # best-of-n did not sample first


def test_beam_candidates_have_their_own_option(fake_models, tmp_path):
    out = tmp_path / "run"
    assert cli.main(["search", "--data", "synthetic", "--limit", "2", "--method", "bon", "beam", "--prm", "P",
                     "--n", "3", "--n-candidates", "4", "--beam-width", "2", "--draws", "5", "--no-plot",
                     "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())["methods"]
    assert summary["bon"]["n"] == 3 and summary["beam"]["n_candidates"] == 4
