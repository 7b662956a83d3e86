"""The GPU check's CPU paths: `benchmarks/gpu_check.py --device cpu --size tiny` end to end,
the bare-machine path (no datasets/accelerate: a manual training loop), and "skipped" without CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
# What a machine with only torch and transformers lacks (transformers then reports them missing).
BARE = ("datasets", "accelerate", "pandas", "pyarrow", "math_verify", "peft")


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow
def test_cpu_smoke_runs_every_part_and_writes_the_json(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = _run([sys.executable, str(SCRIPT), "--device", "cpu", "--size", "tiny", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    keys = {"card", "date", "device", "size", "params_m", "torch", "transformers", "parts", "table", "elapsed_s"}
    assert keys <= set(result)
    assert result["device"] == "cpu" and result["size"] == "tiny"
    parts = result["parts"]
    assert set(parts) == {"scoring", "training", "engine"}
    assert all(part["status"] == "ok" for part in parts.values()), parts
    for name in ("backbone_only", "prm_scorer", "per_prefix"):
        assert parts["scoring"][name]["solutions_per_s"] > 0 and parts["scoring"][name]["tokens_per_s"] > 0
    assert parts["scoring"]["prm_scorer_x_backbone"] > 0 and parts["scoring"]["prm_scorer_x_per_prefix"] > 0
    training = parts["training"]
    assert training["path"].startswith("RewardTrainer")  # the test environment has datasets + accelerate
    assert training["steps_done"] == 5 and training["samples_per_s"] > 0 and training["tokens_per_s"] > 0
    for name in ("shared_prefill", "own_prefill"):
        assert parts["engine"][name]["tokens_per_s"] > 0 and parts["engine"][name]["new_tokens"] > 0
    assert parts["engine"]["shared_x_own"] > 0
    names = [row["name"] for row in result["table"]]
    assert "scoring prm_scorer" in names and "engine shared_prefill" in names
    assert set(result["table"][0]) == {"name", "figure", "unit", "ratio"}
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith(result["table"][-1]["name"])  # the table comes last


@pytest.mark.slow
def test_without_datasets_and_accelerate_training_runs_a_manual_loop(tmp_path):
    out = tmp_path / "bare.json"
    # sys.modules[name] = None makes both `import name` and importlib.util.find_spec(name) fail.
    code = (
        "import runpy, sys\n"
        f"for name in {BARE!r}: sys.modules[name] = None\n"
        "import prm.scoring, prm.engines.hf, benchmarks.gpu_checks  # the other parts' imports work bare too\n"
        "sys.argv = ['gpu_check.py', '--device', 'cpu', '--size', 'tiny', '--parts', 'training', "
        f"'--out', {str(out)!r}]\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    done = _run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "timing a manual loop" in done.stderr
    training = json.loads(out.read_text())["parts"]["training"]
    assert training["status"] == "ok" and training["path"].startswith("manual loop")
    assert training["steps_done"] == 5 and training["samples_per_s"] > 0
    assert "training (manual loop)" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(_cuda(), reason="this machine has CUDA: the skip path does not apply")
def test_without_cuda_the_check_says_skipped_and_exits_zero():
    done = _run([sys.executable, str(SCRIPT)])
    assert done.returncode == 0 and "skipped: no CUDA device" in done.stdout
    done = _run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")])
    assert done.returncode == 0 and "skipped: no CUDA device" in done.stdout
    done = _run([sys.executable, str(SCRIPT), "--device", "cuda"])
    assert done.returncode == 2 and "torch.cuda.is_available() is False" in done.stderr


def test_unknown_part_is_refused_with_the_choices():
    done = _run([sys.executable, str(SCRIPT), "--parts", "scoring,sampling"], timeout=60)
    assert done.returncode == 2
    assert "'sampling'" in done.stderr and "scoring, training, engine" in done.stderr


@pytest.mark.slow
def test_gpu_checks_pass_on_the_cpu_without_pytest():
    # bf16 on the CPU stands in for CUDA's: the checks' own logic is proven here.
    done = _run([sys.executable, str(SCRIPT), "--gpu-tests", "--device", "cpu"])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    passed = done.stdout.count("PASS ")
    assert passed >= 8 and f"{passed} passed, 0 failed" in done.stdout


def test_gpu_scorer_check_fails_when_the_scores_differ():
    # In a child process, as gpu_check.py runs it: the tests never import benchmark code.
    code = (
        "from benchmarks.gpu_checks import check_prm_scorer_matches_cpu as check\n"
        "check('float32', 1e-4, 'right', device='cpu')\n"
        "try:\n"
        "    check('bfloat16', 1e-5, 'right', device='cpu')  # bf16 is not within float noise\n"
        "except AssertionError as error:\n"
        "    assert 'step scores' in str(error), error\n"
        "    print('refused')\n"
    )
    done = _run([sys.executable, "-c", code])
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stdout + done.stderr[-3000:]
