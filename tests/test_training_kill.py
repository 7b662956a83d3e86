"""Fault test (slow): `prm train` killed with SIGKILL at ten seeded random moments (start-up,
mid-training, inside a checkpoint save, inside the final model's save), restarted with
`--resume` each time, ends with exactly (bit for bit) the uninterrupted run's weights; no torn
`checkpoint-N` is ever visible, so `--resume` never picks one."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prm.modeling.reward_model import REWARD_CONFIG_NAME
from prm.testing import save_tiny_backbone
from prm.training.checkpoints import TRAINER_STATE, latest_complete_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STEPS = 30
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Where each kill lands: a random moment of start-up; a random moment after the run's first new
# checkpoint (mid-training or mid-save); the moment a checkpoint's staging folder appears (mid-save);
# the moment the final model's staging folder appears (the final save and install).
MODES = ("startup", "training", "staging", "training", "staging", "startup", "training", "staging", "training", "final")


def _data(tmp_path):
    rows = [
        {"prompt": f"What is {i} + 4?", "completions": [f"{i} + 4 = {i + 4}.", f"The answer is {i + 4}."],
         "labels": [True, i % 3 != 0]}
        for i in range(16)
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _names(out):
    return {p.name for p in out.iterdir()} if out.is_dir() else set()


def _wait_for(process, out, before, wanted, timeout=120.0):
    """Poll until a new entry of `out` (not in `before`) matches `wanted`, or the process ends."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if any(wanted(n) for n in _names(out) - before):
            return True
        time.sleep(0.0005)
    return False


def _tensors(folder):
    from safetensors.torch import load_file

    return {name: load_file(str(folder / name)) for name in ("model.safetensors", "reward_heads.safetensors")}


def _assert_whole(checkpoint, expected_files):
    """A visible checkpoint-N is whole: every file the uninterrupted run's has, readable, at step N."""
    import torch
    from safetensors.torch import load_file

    assert {p.name for p in checkpoint.iterdir()} == expected_files, checkpoint
    step = int(CHECKPOINT.match(checkpoint.name).group(1))
    assert json.loads((checkpoint / TRAINER_STATE).read_text())["global_step"] == step, checkpoint
    load_file(str(checkpoint / "model.safetensors"))
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        torch.load(checkpoint / name, weights_only=False)


@pytest.mark.slow
def test_kill_at_random_moments_then_resume_equals_uninterrupted(tmp_path):
    import torch

    backbone = save_tiny_backbone(tmp_path / "backbone")
    data = _data(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    logs = tmp_path / "logs"
    logs.mkdir()

    def command(out, resume):
        return [sys.executable, "-m", "prm.cli", "train", "--data", str(data), "--model", str(backbone),
                "--objective", "joint", "--out", str(out), "--max-steps", str(STEPS), "--batch-size", "2",
                "--save-steps", "1", "--lr", "1e-3", "--logging-steps", "1", "--seed", "0",
                *(["--resume"] if resume else [])]

    def start(out, resume, name):
        with open(logs / name, "wb") as err:
            return subprocess.Popen(command(out, resume), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)

    reference = tmp_path / "reference"
    whole = start(reference, False, "reference.txt")
    assert whole.wait(timeout=300) == 0, (logs / "reference.txt").read_text()[-3000:]
    expected_files = {p.name for p in (reference / f"checkpoint-{STEPS}").iterdir()}

    out = tmp_path / "killed"
    rng = random.Random(0)
    verified: set[str] = set()
    picks: list[str | None] = []
    landed: list[str] = []
    kills = 0
    while kills < len(MODES):
        mode = MODES[kills]
        pick, skipped = latest_complete_checkpoint(out, required=(REWARD_CONFIG_NAME,))
        assert not skipped, f"torn checkpoints visible: {skipped}"
        assert pick is None or pick.name in verified, pick
        picks.append(pick.name if pick else None)
        before = _names(out)
        log = f"run-{kills}.txt"
        process = start(out, pick is not None, log)  # --resume once there is a checkpoint to resume
        if mode == "startup":
            time.sleep(rng.uniform(0.0, 2.0))
        elif mode == "training":
            _wait_for(process, out, before, CHECKPOINT.match)
            time.sleep(rng.uniform(0.0, 0.1))
        elif mode == "staging":
            _wait_for(process, out, before, lambda n: n.startswith(".checkpoint-"))
            time.sleep(rng.uniform(0.0, 0.002))
        else:
            _wait_for(process, out, before, lambda n: n.startswith(".final-model-"))
        if process.poll() is not None:
            assert process.returncode == 0, (logs / log).read_text()[-3000:]
            break  # finished before the kill: nothing left to interrupt
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        names = _names(out)
        landed.append(f"{mode}: {sorted(n for n in names if n.startswith('.'))} "
                      f"newest {max((int(m.group(1)) for m in map(CHECKPOINT.match, names) if m), default=0)}")
        for name in sorted(n for n in names if CHECKPOINT.match(n) and n not in verified):
            _assert_whole(out / name, expected_files)  # no kill leaves a torn checkpoint-N
            verified.add(name)
        if pick is not None:
            said = re.findall(r"--resume: continuing from (\S+)", (logs / log).read_text())
            assert said in ([], [str(pick)]), said
    assert kills == len(MODES), f"the run finished after {kills} kills: {landed}"
    assert any(n.startswith(".checkpoint-") for n in _names(out)), f"no kill landed inside a checkpoint save: {landed}"

    pick, skipped = latest_complete_checkpoint(out, required=(REWARD_CONFIG_NAME,))
    assert pick is not None and not skipped
    finished = start(out, True, "final.txt")
    assert finished.wait(timeout=300) == 0, (logs / "final.txt").read_text()[-3000:]
    assert re.findall(r"--resume: continuing from (\S+)", (logs / "final.txt").read_text()) == [str(pick)]
    assert "skipped" not in (logs / "final.txt").read_text()

    # Bit-identical: every backbone and head tensor of the final model equals the uninterrupted run's.
    got, want = _tensors(out), _tensors(reference)
    for file in want:
        assert got[file].keys() == want[file].keys(), file
        for name, value in want[file].items():
            assert torch.equal(got[file][name], value), f"{file}: {name} differs after resume"
    for name in (REWARD_CONFIG_NAME, "config.json"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    print(f"kills: {landed}\nresumed from: {picks}")
