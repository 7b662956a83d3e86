"""`prm demo` end to end on a tiny in-process model saved to a folder (no download)."""

from __future__ import annotations

import json

import pytest

from prm.cli import main
from prm.testing import tiny_causal_lm, tiny_tokenizer


@pytest.mark.slow
def test_demo_runs_every_stage_and_writes_the_table(tmp_path, shared_data, capsys):
    model_dir = tmp_path / "tiny"
    tokenizer = tiny_tokenizer()
    tiny_causal_lm(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "demo"
    argv = ["demo", "--model", str(model_dir), "--out", str(out), "--data", str(shared_data),
            # Enough warm-up that the tiny model ends some solutions before the length limit
            # (rollouts cut by the limit are left out, and a run with no label cannot train).
            "--sft-problems", "32", "--sft-epochs", "10", "--sft-lr", "3e-3", "--max-operand", "3",
            "--eval-problems", "2", "--label-problems", "3", "--samples", "2", "--rollouts", "2",
            "--gsm8k-problems", "1", "--rm-epochs", "1", "--rm-top-layers", "1", "--search-problems", "2", "--n", "2",
            "--max-new-tokens", "24", "--max-ops", "1"]
    assert main(argv) == 0
    report = json.loads((out / "demo.json").read_text())
    assert set(report["stages"]) == {"warmup", "label", "train", "search", "greedy"}
    assert report["oracle"]["problems"] == 2
    for artifact in ("policy/config.json", "labels.jsonl", "rm/reward_config.json", "search/bon.jsonl",
                     "search/beam.jsonl", "search/summary.json", "table.md"):
        assert (out / artifact).exists(), artifact
    printed = capsys.readouterr().out
    assert "| PRM best-of-2 (mean) |" in printed and "oracle PRM" in printed and str(out) in printed
    assert "vs majority vote, points [paired 95% CI]" in printed and "policy alone, greedy" in printed
    # A second run into the same folder reuses the policy and resumes the labels.
    assert main(argv) == 0
    assert "reusing the fine-tuned policy" in capsys.readouterr().out
