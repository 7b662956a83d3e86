"""The GPU checks of benchmarks/gpu_checks.py on CUDA (skipped without a CUDA device).

They run as the benchmark script runs them (`gpu_check.py --gpu-tests --device cuda`), in a
child process, so that the tests never import benchmark code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"),
]


def test_gpu_checks_pass_on_cuda():
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--gpu-tests", "--device", "cuda"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    print(done.stdout)
    summary = re.search(r"(\d+) passed, (\d+) failed", done.stdout)
    assert done.returncode == 0 and summary and int(summary.group(1)) > 0, done.stdout[-3000:] + done.stderr[-3000:]
