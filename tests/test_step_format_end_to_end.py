"""A non-default step format travels with the data: `prm label --step-format math_shepherd`
records it in the sidecar, `prm train` reads it back into the reward-model folder, and
`prm search` splits the policy's text and stops beam steps with it (read from the folder)."""

from __future__ import annotations

import contextlib
import json

import pytest

from prm.cli import main, wiring
from prm.engines.scripted import ScriptedEngine
from prm.modeling import load_reward_model
from prm.steps import MATH_SHEPHERD
from prm.testing import save_tiny_backbone
from tests.test_search_fakes import extract_answer, grade


@pytest.fixture
def line_policy(monkeypatch):
    """A policy that writes one step per line (Math-Shepherd style) and records its stop strings."""
    stops = []

    class Recording(ScriptedEngine):
        def generate(self, prompts, sampling, seeds=None):
            stops.append(tuple(sampling.stop))
            return super().generate(prompts, sampling, seeds)

    engine = Recording(lambda prompt, index: "1 + 1 = 2.\nThe answer is 2." if index % 2 == 0 else "1 + 1 = 3.\nThe answer is 3.")
    monkeypatch.setattr(wiring, "build_policy", lambda args: (engine, lambda p: f"Q:{p.question}|"))

    @contextlib.contextmanager
    def fake_grader(timeout=2.0):
        yield extract_answer, grade

    monkeypatch.setattr(wiring, "grader", fake_grader)
    return stops


def test_math_shepherd_format_from_label_to_search(tmp_path, line_policy, capsys):
    labels = tmp_path / "labels.jsonl"
    assert main(["label", "--problems", "synthetic", "--engine", "simulated", "--limit", "4", "--samples", "2",
                 "--rollouts", "2", "--step-format", "math_shepherd", "--no-progress", "--out", str(labels)]) == 0
    sidecar = json.loads((tmp_path / "labels.jsonl.meta.json").read_text())
    assert sidecar["step_format"] == {"name": "math_shepherd", **MATH_SHEPHERD.to_dict()}
    assert wiring.recorded_step_format([str(labels)]) == MATH_SHEPHERD

    backbone = save_tiny_backbone(tmp_path / "backbone")
    model_dir = tmp_path / "prm"
    capsys.readouterr()
    assert main(["train", "--data", str(labels), "--format", "trl_stepwise", "--model", str(backbone),
                 "--objective", "hard", "--max-steps", "1", "--batch-size", "4", "--save-steps", "100",
                 "--out", str(model_dir)]) == 0, capsys.readouterr().err
    model, _ = load_reward_model(model_dir)
    assert model.step_format == MATH_SHEPHERD  # from the sidecar, with no option naming it

    out = tmp_path / "search"
    assert main(["search", "--data", "synthetic", "--limit", "2", "--method", "bon", "beam", "--n", "2",
                 "--beam-width", "2", "--max-steps", "3", "--prm", str(model_dir), "--draws", "5",
                 "--bootstrap", "20", "--no-plot", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["step_format"] == MATH_SHEPHERD.to_dict()
    bon = [json.loads(line) for line in (out / "bon.jsonl").read_text().splitlines()]
    assert all(row["meta"]["step_format"] == MATH_SHEPHERD.to_dict() for row in bon)
    assert all(c["steps"] == ["1 + 1 = 2.", "The answer is 2."] for c in bon[0]["candidates"][::2])
    assert ("\n",) in line_policy  # beam steps stop at the format's delimiter, not at a blank line
    assert ("\n\n",) not in line_policy


def test_an_unknown_step_format_is_refused():
    from prm.steps import step_format_named

    with pytest.raises(ValueError, match="choose one of default, math_shepherd"):
        step_format_named("markdown")
