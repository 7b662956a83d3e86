"""The labeling runner: resume after a torn write, fingerprints, shards and merge, the CLI,
ORM pairs, the transformers engine end to end, and (slow) kill -9 at random points."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labeling.estimators import EstimatorConfig
from labeling.merge import merge_shards
from labeling.pipeline import LabelingJob, make_processor, problem_units, solution_units
from labeling.rollouts import RolloutConfig
from labeling.runner import run_units
from labeling.sampling import preference_pairs
from labeling.store import ResumableJsonl, read_rows
from prm.cli import main
from prm.cli.wiring import parse_shard
from prm.engines.base import SamplingConfig
from prm.records import StepwiseSolution
from prm.steps import StepFormat

ROOT = Path(__file__).resolve().parents[1]
BASE = ["label", "--problems", "synthetic", "--engine", "simulated", "--samples", "2", "--rollouts", "4",
        "--no-progress"]


def without_seconds(rows):
    # The digest covers the row's timing too, so it goes with it.
    return [{k: v for k, v in row.items() if k not in ("seconds", "digest")} for row in rows]


def label(out, *extra):
    return main(BASE + ["--limit", "12", "--group-size", "2", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "all.jsonl"
    assert label(out) == 0
    return read_rows(out)


def test_output_is_stepwise_and_keyed(reference):
    assert len(reference) == 24
    assert len({r["id"] for r in reference}) == 24
    for row in reference:
        solution = StepwiseSolution.from_dict(row)
        assert len(solution.labels) == len(solution.steps) == len(row["mc_values"]) == len(row["rollouts"])
        assert row["generated_tokens"] == row["solution_tokens"] + row["rollout_tokens"]


def test_torn_line_is_repaired_and_run_continues(tmp_path, reference):
    out = tmp_path / "out.jsonl"
    assert label(out) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:9]) + lines[9][:30])  # 9 rows and a torn tenth
    assert label(out) == 0
    assert without_seconds(read_rows(out)) == without_seconds(reference)


def test_mismatched_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert label(out) == 0
    assert label(out, "--rollouts", "2") == 2
    error = capsys.readouterr().err
    assert "prm label: error:" in error and "different run" in error and "--no-resume" in error
    assert label(out, "--shard", "1/2") == 2
    assert label(out, "--rollouts", "2", "--no-resume") == 0


def test_shards_merge_to_the_unsharded_output(tmp_path, reference):
    parts = [tmp_path / f"part{i}.jsonl" for i in range(3)]
    for index, part in enumerate(parts):
        assert label(part, "--shard", f"{index}/3") == 0
    merged = tmp_path / "merged.jsonl"
    summary = merge_shards([parts[2], parts[0], parts[1]], merged)
    assert without_seconds(read_rows(merged)) == without_seconds(reference)
    assert summary["records"] == 24
    with pytest.raises(ValueError, match="missing shard"):
        merge_shards(parts[:2], tmp_path / "bad.jsonl")
    other = tmp_path / "other.jsonl"
    assert label(other, "--shard", "2/3", "--rollouts", "2") == 0
    with pytest.raises(ValueError, match="different runs"):
        merge_shards([parts[0], parts[1], other], tmp_path / "bad.jsonl")
    assert main(["merge", str(parts[0]), str(parts[1]), "--out", str(tmp_path / "x.jsonl")]) == 2


def test_store_refuses_foreign_file_and_repairs(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "a"}\n')
    with pytest.raises(ValueError, match="sidecar"):
        ResumableJsonl(out, "f", {"shard": [0, 1]})
    store = ResumableJsonl(out, "f", {"shard": [0, 1]}, resume=False)
    store.append([{"id": "a"}, {"id": "b"}])
    store.append([{"id": "a"}])  # already written: skipped
    store.close()
    with open(out, "a") as handle:
        handle.write('{"id": "c", "x"')
    again = ResumableJsonl(out, "f", {"shard": [0, 1]})
    assert [r["id"] for r in again.rows] == ["a", "b"] and again.done_ids == {"a", "b"}
    assert out.read_text().endswith("\n")


@pytest.mark.parametrize("text", ["1", "2/2", "a/b", "-1/3"])
def test_bad_shard_raises(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_preference_pairs_from_sampled_rows(reference):
    pairs = preference_pairs(reference)
    by_id = {r["id"]: r for r in reference}
    assert pairs, "the simulated policy gets some right and some wrong"
    for pair in pairs:
        good, bad = pair.id.split(">")
        assert by_id[good]["correct"] is True and by_id[bad]["correct"] is False
        assert by_id[good]["problem_id"] == by_id[bad]["problem_id"] == pair.meta["problem_id"]
        assert list(pair.chosen) == by_id[good]["completions"] and list(pair.rejected) == by_id[bad]["completions"]


def test_labeling_existing_solutions_with_a_scripted_engine(tmp_path):
    from prm.engines.scripted import ScriptedEngine

    solution = StepwiseSolution("What is 3 + 4?", ("3 + 4 = 8.", "The answer is 8."), id="s1", answer="7")
    engine = ScriptedEngine(lambda prompt, j: "The answer is 7." if j == 0 else "The answer is 8.")

    def grade(gold, text):
        return text.rstrip(".").endswith(gold)

    job = LabelingJob(1, EstimatorConfig("math_shepherd", rollouts=2), RolloutConfig(), "{question}\n\n",
                      step_format=StepFormat())
    store = ResumableJsonl(tmp_path / "s.jsonl", "f", {"shard": [0, 1], "units": 1}, resume=False)
    summary = run_units(solution_units([solution]), make_processor(job, engine, grade), store)
    (row,) = read_rows(tmp_path / "s.jsonl")
    assert row["labels"] == [True, False] and row["mc_values"] == [0.5, 0.0]
    assert row["correct"] is False and row["rollouts_drawn"] == 2
    assert summary["records"] == 1 and summary["rollouts"] == 2
    assert engine.calls == [("What is 3 + 4?\n\n3 + 4 = 8.\n\n", 2)]


def test_a_labeling_group_hands_the_engine_all_its_rows_at_once():
    """Sampling sends every problem x sample of a group in one call, and each rollout round
    every pending prefix x rollouts of every solution in one call (`prm label` defaults: 16
    problems a group, 4 samples, 4 rollouts: 64 rows, then up to 256)."""
    from prm.engines.scripted import ScriptedEngine
    from prm.records import Problem

    engine = ScriptedEngine(lambda prompt, j: "3 + 4 = 8.\n\nSo 8 - 1 = 7.\n\nThe answer is 8.")
    problems = [Problem(f"p{i}", f"What is {i} + 4?", "7") for i in range(16)]
    job = LabelingJob(4, EstimatorConfig("binary_search", rollouts=4), RolloutConfig(), "{question}\n\n",
                      step_format=StepFormat())
    make_processor(job, engine, lambda gold, text: text.rstrip(".").endswith(gold))(problem_units(problems, 4))
    assert engine.rows_per_call[0] == 16 * 4
    assert engine.rows_per_call[1] == 16 * 4 * 4  # every wrong solution's middle prefix, 4 rollouts each
    assert min(engine.rows_per_call) >= 64


def test_transformers_engine_end_to_end(tmp_path):
    from prm.engines.hf import TransformersEngine
    from prm.records import Problem
    from prm.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    engine = TransformersEngine(tiny_causal_lm(tokenizer).eval(), tokenizer)
    problems = [Problem("p1", "What is 3 + 4?", "7"), Problem("p2", "Tom has 12 apples", "7")]
    job = LabelingJob(2, EstimatorConfig("binary_search", rollouts=2), RolloutConfig(SamplingConfig(max_new_tokens=6, seed=None)), "{question}\n\n",
                      step_format=StepFormat())
    store = ResumableJsonl(tmp_path / "t.jsonl", "f", {"shard": [0, 1]}, resume=False)
    run_units(problem_units(problems, 2), make_processor(job, engine, lambda gold, text: None), store)
    rows = read_rows(tmp_path / "t.jsonl")
    assert [r["id"] for r in rows] == ["p1#0", "p1#1", "p2#0", "p2#1"]
    for row in rows:
        assert row["solution_tokens"] >= 1 and row["correct"] is None


@pytest.mark.slow
def test_kill_at_random_points_then_resume_equals_uninterrupted(tmp_path):
    """SIGKILL the labeler at random moments (>= 10 times, mostly mid-run); the same command
    then finishes, and the output has exactly the uninterrupted run's rows (same keys, in the
    same order, none duplicated or lost)."""
    args = BASE + ["--limit", "24", "--group-size", "1"]
    assert main(args + ["--out", str(tmp_path / "reference.jsonl")]) == 0
    reference = read_rows(tmp_path / "reference.jsonl")
    out = tmp_path / "killed.jsonl"
    command = [sys.executable, "-m", "prm.cli", *args, "--sim-call-seconds", "0.05", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(0)
    kills, progress = 0, []
    while kills < 10:
        before = len(read_rows(out))
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kills % 3 == 2:
            time.sleep(rng.uniform(0.0, 0.5))  # anywhere, start-up included
        else:
            # Wait for this run's first new row, then kill a random moment later: the kills
            # land mid-run however fast the machine is, and the run cannot finish before ten.
            deadline = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline:
                if len(read_rows(out)) > before:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.04))
        if process.poll() is not None:
            assert process.returncode == 0, f"the labeler failed with exit code {process.returncode}"
            break  # finished between two kills: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        progress.append(len(read_rows(out)))
    assert kills >= 10, f"the run finished after {kills} kills (rows after each: {progress})"
    assert any(0 < count < len(reference) for count in progress), progress
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
    rows = read_rows(out)
    assert [r["id"] for r in rows] == [r["id"] for r in reference]
    assert without_seconds(rows) == without_seconds(reference)
    assert json.loads(Path(str(out) + ".meta.json").read_text())["complete"] is True
