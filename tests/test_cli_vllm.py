"""Every generating verb runs with `--engine vllm` (label, search, sft's held-out sampling), on
the embedded model, with the prompts and stop strings the transformers engine gets.

Opt-in (`make test-vllm`): it needs vLLM and the converted embedded model and skips with a
reason elsewhere. Each verb starts its own vLLM engine (minutes on a CPU).
"""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

pytest.importorskip("vllm", reason="vLLM is not installed (make test-vllm sets up .venv-vllm)")

from prm.cli import main  # noqa: E402

# The model's own 8192-token context needs a KV cache that 0.15 of this machine's RAM only
# sometimes leaves room for (CI failed on it once); these runs need a few hundred tokens.
VLLM = ["--engine", "vllm", "--vllm-memory", "0.15", "--vllm-max-len", "1024", "--dtype", "float32", "--device", "cpu"]


@pytest.fixture(scope="module")
def policy():
    from prm.modeling.loading import resolve_model

    try:
        return str(resolve_model("embedded"))
    except (FileNotFoundError, ImportError) as error:
        pytest.skip(f"the embedded model is not available here: {error}")


def test_label_with_vllm(policy, tmp_path):
    out = tmp_path / "labels"
    assert main(["label", "--data", "synthetic", "--limit", "1", "--samples", "2", "--rollouts", "2",
                 "--method", "binary_search", "--max-new-tokens", "32", "--policy", policy, "--out", str(out),
                 "--no-progress", *VLLM]) == 0
    rows = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(row["completions"] for row in rows)


def test_search_with_vllm(policy, tmp_path):
    out = tmp_path / "search"
    assert main(["search", "--data", "synthetic", "--limit", "2", "--n", "2", "--method", "bon",
                 "--max-new-tokens", "32", "--policy", policy, "--no-plot", "--out", str(out), *VLLM]) == 0
    assert json.loads((out / "summary.json").read_text())["methods"]["bon"]["n"] == 2


def test_sft_held_out_sampling_with_vllm(policy, tmp_path):
    out = tmp_path / "policy"
    assert main(["sft", "--data", "synthetic", "--limit", "4", "--eval-data", "synthetic", "--eval-problems", "2",
                 "--max-steps", "1", "--max-new-tokens", "32", "--backbone", policy, "--out", str(out), *VLLM]) == 0
    report = json.loads((out / "sft.json").read_text())
    assert 0 <= report["accuracy_before"] <= 1 and 0 <= report["accuracy_after"] <= 1
