"""Every file in ../shared/data parses fully, with the counts its README states."""

from __future__ import annotations

import argparse
import re

import pytest

from prm.cli import data as data_cli
from prm.data import PRM800KPolicy, ReadReport, load_problems, load_stepwise, read_prm800k, read_prm800k_critic

pytestmark = pytest.mark.shared_data

# file -> (reader, rows in the README)
EXPECTED = {
    "gsm8k/train.jsonl": ("gsm8k", 7473),
    "gsm8k/test.jsonl": ("gsm8k", 1319),
    "gsm8k/test_socratic.jsonl": ("gsm8k", 1319),
    "gsm8k/example_model_solutions.jsonl": ("gsm8k", 1319),
    "math/math500_test.jsonl": ("math", 500),
    "math/math_test.jsonl": ("math", 5000),
    "math/math_train.jsonl": ("math", 7500),
    "prm800k/phase1_test.stepwise-critic.parquet": ("prm800k_critic", 5449),
    "prm800k/phase1_test.stepwise-critic.jsonl": ("prm800k_critic", 5449),
    "prm800k/raw_samples_openr.jsonl": ("prm800k", 6),
    "prm800k/raw_sample_phase2_tongyx361.json": ("prm800k", 1),
    "processbench/gsm8k.json": ("processbench", 400),
    "processbench/math.json": ("processbench", 1000),
    "processbench/olympiadbench.json": ("processbench", 1000),
    "processbench/omnimath.json": ("processbench", 1000),
    "math_shepherd/samples_openr.jsonl": ("math_shepherd", 7),
    "answer_equivalence/math_verify_cases.jsonl": ("rows", 270),
    "answer_equivalence/hendrycks_math_equivalence_cases.jsonl": ("rows", 16),
    "answer_equivalence/nemo_skills_math_equal_cases.jsonl": ("rows", 30),
}


def _cli_args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    data_cli.add_arguments(parser)
    argv = []
    for key, value in overrides.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return parser.parse_args(argv)


def test_cli_parses_every_file_with_readme_counts(shared_data, capsys):
    # Two MATH-train rows have an empty \boxed{} gold: skipped and counted, every other row is read.
    assert data_cli.run(_cli_args(root=shared_data, on_error="skip")) == 0
    lines = capsys.readouterr().out.splitlines()
    table = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(table) == set(EXPECTED)
    for name, (reader, rows) in EXPECTED.items():
        assert table[name][1:3] == [reader, str(rows)], name
    critic = [line for line in lines if line.startswith("prm800k/phase1_test.stepwise-critic.jsonl")][0]
    assert "101 distinct problems" in critic
    assert table["math/math_train.jsonl"][3:7] == ["7498", "skipped", "2", "empty"]


def test_cli_single_file_with_options(shared_data, capsys):
    args = _cli_args(file=shared_data / "prm800k" / "raw_samples_openr.jsonl", format="prm800k")
    args.initial_screening, args.alternatives = "keep", True
    assert data_cli.run(args) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:4] == ["raw_samples_openr.jsonl", "prm800k", "6", "36"]


def test_cli_reports_a_failing_file(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "answer": "#### 1", "answer": "2"}\n')
    assert data_cli.run(_cli_args(root=tmp_path)) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "bad.jsonl, line 1: field 'answer'" in out


def test_problem_records(shared_data):
    train = load_problems(shared_data / "gsm8k" / "train.jsonl")
    assert len(train) == 7473 and all(p.answer for p in train)
    # Thousands separators removed (`2,125` -> `2125`), negatives kept: every gold is an integer.
    assert all(re.fullmatch(r"-?\d+", p.answer) for p in train)
    assert sum(p.answer.startswith("-") for p in train) == 3
    math500 = load_problems(shared_data / "math" / "math500_test.jsonl")
    assert math500[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    full = {p.id: p for p in load_problems(shared_data / "math" / "math_test.jsonl")}
    # MATH-500's `answer` field equals the last \boxed{} of the same problem in full MATH.
    assert all(full[p.id].answer == p.answer for p in math500)


def test_critic_jsonl_and_parquet_identical(shared_data):
    policy = PRM800KPolicy(alternatives=True)
    from_jsonl = read_prm800k_critic(shared_data / "prm800k" / "phase1_test.stepwise-critic.jsonl", policy)
    from_parquet = read_prm800k_critic(shared_data / "prm800k" / "phase1_test.stepwise-critic.parquet", policy)
    assert len(from_jsonl) > 103
    assert [(r.id, r.prompt, r.steps, r.labels, dict(r.meta)) for r in from_jsonl] == [
        (r.id, r.prompt, r.steps, r.labels, dict(r.meta)) for r in from_parquet
    ]


def test_raw_and_critic_agree_on_the_same_trajectories(shared_data):
    """3 raw openr samples are phase-1 test records: both readers give the same records."""
    policy = PRM800KPolicy(alternatives=True)
    raw = read_prm800k(shared_data / "prm800k" / "raw_samples_openr.jsonl", policy)
    critic = read_prm800k_critic(shared_data / "prm800k" / "phase1_test.stepwise-critic.jsonl", policy)
    matched = 0
    for record in raw:
        if "/alt" in record.id:
            continue
        same_problem = [c for c in critic if c.prompt == record.prompt and "/alt" not in c.id]
        if not same_problem:
            continue
        (twin,) = same_problem
        matched += 1
        assert (twin.steps, twin.labels, twin.meta["human"]) == (record.steps, record.labels, record.meta["human"])
        raw_alts = {(r.steps, r.labels) for r in raw if r.id.startswith(record.id + "/")}
        critic_alts = {(c.steps, c.labels) for c in critic if c.id.startswith(twin.id + "/")}
        assert raw_alts == critic_alts and raw_alts
    assert matched == 3


def test_stepwise_records(shared_data):
    report = ReadReport()
    raw = load_stepwise(shared_data / "prm800k" / "raw_samples_openr.jsonl", report=report, alternatives=False)
    assert len(raw) == 5 and report.skipped == {"initial-screening question": 1}
    # By default every rated, non-chosen candidate is its own record too (most bad steps are).
    with_alternatives = load_stepwise(shared_data / "prm800k" / "raw_samples_openr.jsonl")
    assert len(with_alternatives) == 35 and any(0.0 in r.labels for r in with_alternatives)
    (phase2,) = load_stepwise(shared_data / "prm800k" / "raw_sample_phase2_tongyx361.json", alternatives=False)
    assert phase2.labels == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0) and phase2.meta["ratings"] == (1, 0, 1, 1, 1, 1, -1)
    shepherd = load_stepwise(shared_data / "math_shepherd" / "samples_openr.jsonl")
    patterns = ["".join("+" if v == 1.0 else "-" for v in r.labels) for r in shepherd]
    assert patterns == ["++++-", "---", "--", "-----", "+----", "--", "---"]
    bench = load_stepwise(shared_data / "processbench" / "gsm8k.json")
    assert len(bench) == 400 and sum(r.meta["label"] == -1 for r in bench) == 193
    assert all(r.first_error_index() == r.meta["label"] for r in bench)
