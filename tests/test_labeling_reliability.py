"""One writer per labeling output, resume that checks every written row, refusals that name
what differs, and a merge that never writes over its own input."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labeling.merge import merge_shards
from labeling.store import ResumableJsonl, read_rows, row_digest
from prm.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = ["label", "--data", "synthetic", "--engine", "simulated", "--samples", "2", "--rollouts", "4",
        "--no-progress", "--limit", "6", "--group-size", "1"]


def without_timing(rows):
    return [{k: v for k, v in row.items() if k not in ("seconds", "digest")} for row in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "all.jsonl"
    assert main(BASE + ["--out", str(out)]) == 0
    return read_rows(out)


def test_rows_carry_their_digest(reference):
    assert all(row["digest"] == row_digest(row) for row in reference)


def test_a_second_concurrent_writer_is_refused_and_the_output_stays_exact(tmp_path, reference, capsys):
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "prm.cli", *BASE, "--sim-call-seconds", "0.3", "--out", str(out)]
    first = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = Path(str(out) + ".lock")
    deadline = time.monotonic() + 240  # a loaded machine may take long to import torch
    while time.monotonic() < deadline and first.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(first.pid):
            break
        time.sleep(0.05)
    assert first.poll() is None, "the first writer ended before the second started"
    assert main(BASE + ["--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("prm label: error:")
    assert f"pid {first.pid}" in error and "another process" in error
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr.decode()[-2000:]
    assert without_timing(read_rows(out)) == without_timing(reference)


def test_the_lock_is_released_after_a_run(tmp_path):
    out = tmp_path / "out.jsonl"
    assert main(BASE + ["--out", str(out)]) == 0
    assert main(BASE + ["--out", str(out)]) == 0  # the same process again: not refused
    with ResumableJsonl(tmp_path / "x.jsonl", "f", {"shard": [0, 1]}):
        with pytest.raises(OSError, match="another process"):
            ResumableJsonl(tmp_path / "x.jsonl", "f", {"shard": [0, 1]})


def test_resume_checks_every_written_row_and_reports_what_it_drops(tmp_path, reference, caplog):
    out = tmp_path / "out.jsonl"
    assert main(BASE + ["--out", str(out)]) == 0
    rows = read_rows(out)
    rows[4]["labels"][0] = not rows[4]["labels"][0]  # changed after writing: digest no longer matches
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with caplog.at_level(logging.WARNING):
        assert main(BASE + ["--out", str(out)]) == 0
    assert "dropped 8 written rows" in caplog.text and "digest mismatch (row changed after it was written) (first at line 5)" in caplog.text
    assert without_timing(read_rows(out)) == without_timing(reference)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda rows: rows.insert(2, {**rows[0], "id": "elsewhere#0", "digest": None}), "id not among this shard's inputs"),
        (lambda rows: rows.insert(2, dict(rows[0])), "duplicate id"),
        (lambda rows: rows[2].update(completions="one string", digest=None), "malformed row: 'completions'"),
        (lambda rows: rows.insert(2, ["not", "a", "row"]), "not a row with a string id"),
    ],
)
def test_resume_drops_foreign_duplicate_and_malformed_rows(tmp_path, reference, caplog, damage, reason):
    out = tmp_path / "out.jsonl"
    assert main(BASE + ["--out", str(out)]) == 0
    rows = read_rows(out)
    damage(rows)
    for row in rows:
        if isinstance(row, dict) and row.get("digest") is None:
            row["digest"] = row_digest(row)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with caplog.at_level(logging.WARNING):
        assert main(BASE + ["--out", str(out)]) == 0
    assert reason in caplog.text and "first at line 3" in caplog.text
    assert without_timing(read_rows(out)) == without_timing(reference)


def test_a_refused_resume_names_each_option_that_differs(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(BASE + ["--out", str(out)]) == 0
    assert main(BASE + ["--out", str(out), "--rollouts", "2", "--temperature", "0.5"]) == 2
    error = capsys.readouterr().err
    assert "--rollouts 4 (this run: 2)" in error and "--temperature 0.7 (this run: 0.5)" in error
    assert "fingerprint" not in error and error.count("\n") == 1
    assert main(BASE + ["--out", str(out), "--shard", "1/2"]) == 2
    assert "--shard 0/1 (this run: 1/2)" in capsys.readouterr().err


def test_merge_refuses_to_write_over_one_of_its_inputs(tmp_path, capsys):
    parts = [tmp_path / f"part{i}.jsonl" for i in range(2)]
    for index, part in enumerate(parts):
        assert main(BASE + ["--shard", f"{index}/2", "--out", str(part)]) == 0
    before = parts[1].read_bytes()
    with pytest.raises(ValueError, match="one of the shards"):
        merge_shards(parts, parts[1])
    assert main(["merge", str(parts[0]), str(parts[1]), "--out", str(tmp_path / "." / "part0.jsonl")]) == 2
    assert "one of the shards" in capsys.readouterr().err
    assert parts[1].read_bytes() == before
