"""Two processes (torchrun, gloo on CPU) give the same parameters as one process with the same
global batch. Run as a script, this file is the torchrun worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _records():
    from prm.records import StepwiseSolution

    records = []
    for i in range(8):
        # Rows hold 1 to 3 labels, so a per-process mean would differ from the global mean.
        labels = [(None, 1.0, 1.0), (1.0, 0.0, None), (0.5, 1.0, 0.0), (None, None, 1.0)][i % 4]
        steps = (f"{i} + 4 = {i + 4}.", "So, therefore,", f"The answer is {i + 4}.")
        records.append(StepwiseSolution(f"What is {i} + 4?", steps, labels))
    return records


def _run(out: str, per_device_batch: int) -> None:
    import orm.objectives  # noqa: F401  (registers joint)
    from prm.testing import tiny_causal_lm, tiny_tokenizer
    from prm.training import ObjectiveConfig, TrainConfig, train

    tokenizer = tiny_tokenizer()
    config = TrainConfig(
        output_dir=out,
        objective=ObjectiveConfig("joint", step_weight=1.0, outcome_weight=0.5),
        max_steps=2,
        learning_rate=0.5,
        batch_size=per_device_batch,
        save_steps=100,
        logging_steps=1,
        # Plain SGD: Adam divides by sqrt(v) and would blow float noise in near-zero gradients
        # up to a visible difference; SGD keeps the comparison tight.
        extra_args={"train_sampling_strategy": "sequential", "optim": "sgd"},
    )
    train(config, _records(), model=tiny_causal_lm(tokenizer), tokenizer=tokenizer)


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    import torch
    from safetensors.torch import load_file

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(__file__)), str(tmp_path / "two"), "2"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    _run(str(tmp_path / "one"), 4)
    for name in ("model.safetensors", "reward_heads.safetensors"):
        one = load_file(str(tmp_path / "one" / name))
        two = load_file(str(tmp_path / "two" / name))
        assert one.keys() == two.keys()
        for key in one:
            torch.testing.assert_close(one[key], two[key], atol=2e-6, rtol=1e-5, msg=key)


if __name__ == "__main__":
    _run(sys.argv[1], int(sys.argv[2]))
    from prm.cli.train import close_process_group

    close_process_group()
