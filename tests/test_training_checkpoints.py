"""Checkpoints and the final model are written atomically; --resume takes the newest complete
checkpoint and names the torn ones it skipped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from prm.cli.train import _resume_point
from prm.modeling.reward_model import REWARD_CONFIG_NAME, RewardModel
from prm.records import StepwiseSolution
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import checkpoints
from prm.training import trainer as trainer_module
from prm.training.checkpoints import install_files, latest_complete_checkpoint, rotate_checkpoints, staging_folder
from prm.training.losses import ObjectiveConfig
from prm.training.trainer import TrainConfig, train


def _checkpoint(folder, state="{}", files=("trainer_state.json", REWARD_CONFIG_NAME)):
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text(state if name == "trainer_state.json" else "{}")
    return folder


def test_latest_complete_checkpoint_skips_torn_ones(tmp_path):
    good = _checkpoint(tmp_path / "checkpoint-3")
    _checkpoint(tmp_path / "checkpoint-20", files=("model.safetensors",))
    _checkpoint(tmp_path / "checkpoint-10", state='{"global_st')
    _checkpoint(tmp_path / ".checkpoint-30-x.partial")
    found, skipped = latest_complete_checkpoint(tmp_path, required=(REWARD_CONFIG_NAME,))
    assert found == good
    assert [(p.name, why) for p, why in skipped] == [
        ("checkpoint-20", "no trainer_state.json"), ("checkpoint-10", "trainer_state.json is not readable JSON")]
    assert latest_complete_checkpoint(tmp_path / "absent") == (None, [])


def test_rotation_keeps_the_newest_and_a_killed_delete_leaves_no_torn_checkpoint(tmp_path, monkeypatch):
    for step in (2, 4, 6, 8):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        for name in ("trainer_state.json", "model.safetensors", "optimizer.pt"):
            (folder / name).write_text("x")
    removed = rotate_checkpoints(tmp_path, 3, best=str(tmp_path / "checkpoint-2"))
    assert [p.name for p in removed] == ["checkpoint-4"]  # the best and the newest are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-6", "checkpoint-8"]

    def killed(path, ignore_errors=False):  # a kill after the first file of the delete
        next(iter(sorted(Path(path).rglob("*.pt")))).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        rotate_checkpoints(tmp_path, 1)
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["checkpoint-6", "checkpoint-8"]  # checkpoint-2 went whole, under a hidden name
    assert all((tmp_path / name / "optimizer.pt").is_file() for name in visible)


def test_install_files_replaces_the_model_and_keeps_checkpoints(tmp_path):
    out = tmp_path / "out"
    _checkpoint(out / "checkpoint-2")
    (out / REWARD_CONFIG_NAME).write_text("old")
    (out / "model.safetensors").write_text("old")
    staging = staging_folder(out, "final-model")
    (staging / REWARD_CONFIG_NAME).write_text("new")
    (staging / "model.safetensors").write_text("new")
    install_files(staging, out, last=REWARD_CONFIG_NAME)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-2", "model.safetensors", REWARD_CONFIG_NAME]
    assert (out / REWARD_CONFIG_NAME).read_text() == (out / "model.safetensors").read_text() == "new"


def _records():
    return [StepwiseSolution(f"What is {i} + 4?", (f"{i} + 4 = {i + 4}.", "Done."), (1.0, float(i % 2))) for i in range(4)]


def _train(out, **kwargs):
    tokenizer = tiny_tokenizer()
    config = TrainConfig(output_dir=str(out), objective=ObjectiveConfig("hard"), max_steps=4, batch_size=2,
                         logging_steps=1, save_steps=2, **kwargs)
    return train(config, _records(), model=tiny_causal_lm(tokenizer), tokenizer=tokenizer)


def test_training_writes_whole_checkpoints_and_resume_skips_a_torn_one(tmp_path, caplog):
    out = tmp_path / "run"
    _train(out, save_total_limit=None)  # keep every checkpoint (the default keeps the last)
    names = sorted(p.name for p in out.iterdir())
    assert "checkpoint-2" in names and "checkpoint-4" in names
    assert not [n for n in names if n.endswith((".partial", ".old"))], names
    RewardModel.from_pretrained(out)  # the final model loads
    RewardModel.from_pretrained(out / "checkpoint-4")
    torn = out / "checkpoint-6"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\0" * 10)  # a kill in the middle of a save, before this change
    with caplog.at_level(logging.WARNING):
        assert _resume_point(True, str(out)) == str(out / "checkpoint-4")
    assert "skipped" in caplog.text and "checkpoint-6" in caplog.text and "no trainer_state.json" in caplog.text
    with pytest.raises(ValueError, match="--resume: found no complete checkpoint"):
        _resume_point(True, str(tmp_path / "empty"))
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_a_save_that_fails_leaves_no_checkpoint_folder(tmp_path, monkeypatch):
    def fail(folder, model):
        raise OSError("disk full")

    monkeypatch.setattr(trainer_module, "write_reward_files", fail)
    with pytest.raises(OSError, match="disk full"):
        _train(tmp_path / "run")
    assert [p.name for p in (tmp_path / "run").iterdir()] == []
