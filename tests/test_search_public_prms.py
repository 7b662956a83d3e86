"""`prm search --prm PATH --prm-kind math_shepherd|qwen_prm` on tiny folders of those
conventions: the public-PRM adapters are reachable from the command line (policy and grader
faked as in test_search_cli; the scorer is the real adapter loaded from the folder)."""

from __future__ import annotations

import contextlib
import json

import pytest

from prm import cli
from prm.cli import wiring
from prm.engines.scripted import ScriptedEngine
from prm.modeling.adapters import ClassificationHeadPRM, LabelTokenPRM
from prm.scoring import PRMScorer
from prm.testing import tiny_math_shepherd_prm, tiny_qwen_prm
from tests.test_search_fakes import extract_answer, grade


@pytest.fixture
def fake_policy(monkeypatch):
    def script(prompt, index):
        return "1 + 1 = 2.\n\nThe answer is 2." if index % 2 == 0 else "1 + 1 = 3.\n\nThe answer is 3."

    monkeypatch.setattr(wiring, "build_policy", lambda args: (ScriptedEngine(script), lambda p: f"Q:{p.question}|"))

    @contextlib.contextmanager
    def fake_grader(timeout=2.0):
        yield extract_answer, grade

    monkeypatch.setattr(wiring, "grader", fake_grader)


def _save(folder, build):
    model, tokenizer = build()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("kind", "build", "adapter"),
    [("math_shepherd", tiny_math_shepherd_prm, LabelTokenPRM), ("qwen_prm", tiny_qwen_prm, ClassificationHeadPRM)],
)
def test_prm_search_with_a_public_prm_folder(fake_policy, tmp_path, kind, build, adapter):
    folder = _save(tmp_path / kind, build)
    assert isinstance(wiring.load_step_scorer(str(folder), kind), adapter)
    out = tmp_path / "run"
    argv = ["search", "--data", "synthetic", "--limit", "2", "--method", "bon", "beam", "--n", "2",
            "--beam-width", "2", "--max-steps", "3", "--prm", str(folder), "--prm-kind", kind,
            "--draws", "5", "--bootstrap", "20", "--no-plot", "--out", str(out)]
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())["methods"]
    assert "rm:prm:min" in summary["bon"]["accuracy_at_n"] and summary["bon"]["scorer_tokens_per_problem"] > 0
    assert summary["beam"]["scorer_tokens_per_problem"] > 0
    rows = [json.loads(line) for line in (out / "bon.jsonl").read_text().splitlines()]
    assert all(len(c["step_scores"]) == len(c["steps"]) for row in rows for c in row["candidates"])


def test_prm_kind_is_recognised_from_the_folder_where_it_can_be(tmp_path, capsys):
    qwen = _save(tmp_path / "qwen", tiny_qwen_prm)
    assert wiring.prm_kind_of(qwen) == "qwen_prm"
    assert isinstance(wiring.load_step_scorer(str(qwen)), ClassificationHeadPRM)
    shepherd = _save(tmp_path / "shepherd", tiny_math_shepherd_prm)  # a plain causal LM: say so
    with pytest.raises(ValueError, match="--prm-kind math_shepherd"):
        wiring.prm_kind_of(shepherd)
    assert cli.main(["search", "--data", "synthetic", "--limit", "1", "--prm", str(shepherd), "--no-plot",
                     "--out", str(tmp_path / "run")]) == 2
    assert "prm search: error: --prm" in capsys.readouterr().err


def test_toolkit_folders_still_load_as_toolkit_scorers(tmp_path):
    from prm.modeling import RewardConfig, RewardModel
    from prm.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig())
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert wiring.prm_kind_of(tmp_path) == "toolkit"
    assert isinstance(wiring.load_step_scorer(str(tmp_path)), PRMScorer)
