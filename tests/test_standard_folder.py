"""Trained folders are standard Hugging Face token classifiers (TRL's PRM convention), with a
model card, training arguments, evaluation metrics and only the checkpoints asked for; loads
with the wrong class fail or warn by name."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from prm.modeling import RewardConfig, RewardModel, load_reward_model
from prm.modeling.standard import load_checked, read_reward_state
from prm.records import StepwiseSolution
from prm.scoring import PRMScorer
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import ObjectiveConfig, TrainConfig, train
from prm.training.model_card import file_sha256
from prm.training.trainer import default_bf16


def solutions(n=8):
    records = []
    for i in range(n):
        good = i % 2 == 0
        last = f"The answer is {i + 4}." if good else "So, therefore, thus, hence 100."
        records.append(StepwiseSolution(f"What is {i} + 4?", (f"{i} + 4 = {i + 4}.", last), (1.0, 1.0 if good else 0.0),
                                        meta={"label": -1 if good else 1}))
    return records


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step joint run with an evaluation and ProcessBench, checkpoints every step."""
    root = tmp_path_factory.mktemp("std")
    data = root / "train.jsonl"
    data.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in solutions()))
    tokenizer = tiny_tokenizer()
    config = TrainConfig(output_dir=str(root / "out"), objective=ObjectiveConfig("joint"), max_steps=2, batch_size=4,
                         learning_rate=5e-3, logging_steps=1, save_steps=1, eval_steps=1, base_model="tiny-llama",
                         data_files=(str(data),))
    result = train(config, solutions(), solutions(4), model=tiny_causal_lm(tokenizer), tokenizer=tokenizer,
                   processbench={"gsm8k": solutions(4)})
    return result, data


def _encode(model, tokenizer, prompt, steps):
    encoded = model.step_format.encode(tokenizer, prompt, steps)
    return torch.tensor([encoded.input_ids]), list(encoded.label_positions)


def test_folder_loads_as_token_classifier_with_the_toolkit_scores(trained):
    from transformers import AutoModelForTokenClassification

    result, _ = trained
    out = result.output_dir
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForTokenClassification"]
    assert config["id2label"] == {"0": "bad_step", "1": "good_step"}
    classifier = AutoModelForTokenClassification.from_pretrained(out).eval()
    scorer = PRMScorer.from_pretrained(out)
    prompt, steps = "What is 2 + 4?", ["2 + 4 = 6.", "The answer is 6.", "So 6."]
    input_ids, positions = _encode(scorer.model, scorer.tokenizer, prompt, steps)
    with torch.no_grad():
        standard = classifier(input_ids=input_ids).logits.softmax(-1)[0, positions, 1]
    torch.testing.assert_close(standard, torch.tensor(scorer.score_steps([prompt], [steps])[0]), atol=1e-6, rtol=1e-5)
    # Both heads come back: the toolkit's outcome score equals the trained model's.
    with torch.no_grad():
        expected = torch.sigmoid(result.model.eval()(input_ids=input_ids).outcome_logits)[0]
    assert scorer.score_outcomes([prompt], [steps])[0] == pytest.approx(float(expected), abs=1e-6)


def test_checkpoint_is_standard_and_only_the_last_is_kept(trained):
    from transformers import AutoModel, AutoModelForTokenClassification

    out = trained[0].output_dir
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    checkpoint = out / "checkpoint-2"
    assert type(AutoModel.from_pretrained(checkpoint)).__name__ == "LlamaModel"
    AutoModelForTokenClassification.from_pretrained(checkpoint)
    assert (checkpoint / "optimizer.pt").is_file()  # the checkpoint can resume ...
    assert not list(out.glob("optimizer*")) and not (out / "scheduler.pt").exists()  # ... the final folder is the model
    final, _ = load_reward_model(out)
    for key, value in read_reward_state(checkpoint).items():
        torch.testing.assert_close(value, final.state_dict()[key], msg=key)


def test_model_card_and_training_args(trained):
    result, data = trained
    card = (result.output_dir / "README.md").read_text()
    assert "base_model: \"tiny-llama\"" in card and file_sha256(data) in card
    assert "joint" in card and "<|step|>" in card and "LlamaForTokenClassification" in card
    assert "eval_step_auroc" in card
    args = json.loads((result.output_dir / "training_args.json").read_text())
    assert args["max_steps"] == 2 and args["per_device_train_batch_size"] == 4 and args["bf16"] is False


def test_evaluation_logs_step_accuracy_auroc_and_processbench_f1(trained):
    result, _ = trained
    metrics = result.metrics
    for key in ("eval_step_accuracy", "eval_step_auroc", "eval_outcome_accuracy", "eval_processbench_f1",
                "eval_processbench_gsm8k_f1"):
        assert key in metrics, key
    assert 0.0 <= metrics["eval_step_auroc"] <= 1.0
    state = json.loads((result.output_dir / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "eval_step_accuracy" in entry]
    assert [entry["step"] for entry in logged] == [1, 2]  # every --eval-steps


def test_save_total_limit_zero_keeps_no_checkpoint(tmp_path):
    tokenizer = tiny_tokenizer()
    config = TrainConfig(output_dir=str(tmp_path), max_steps=2, batch_size=4, save_steps=1, save_total_limit=0)
    train(config, solutions(), model=tiny_causal_lm(tokenizer), tokenizer=tokenizer)
    assert not list(tmp_path.glob("checkpoint-*")) and (tmp_path / "reward_config.json").is_file()


def test_report_to_tensorboard_writes_events(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install 'prm-toolkit[tracking]')")
    tokenizer = tiny_tokenizer()
    config = TrainConfig(output_dir=str(tmp_path), max_steps=2, batch_size=4, logging_steps=1, save_steps=10,
                         report_to=("tensorboard",))
    train(config, solutions(), model=tiny_causal_lm(tokenizer), tokenizer=tokenizer)
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_push_to_hub_and_bf16_reach_the_training_arguments(monkeypatch, tmp_path):
    args = TrainConfig(output_dir=str(tmp_path), push_to_hub=True, hub_model_id="me/prm").training_arguments(False)
    assert args.push_to_hub is True and args.hub_model_id == "me/prm"
    assert args.bf16 is False  # a CPU run trains in fp32
    assert default_bf16("cpu") is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert default_bf16("auto") is True and default_bf16("cpu") is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert default_bf16("auto") is False


def test_cli_passes_push_to_hub_and_hub_model_id(tmp_path):
    import argparse

    from prm.cli import train as train_cli

    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(["--data", "x.jsonl", "--out", str(tmp_path), "--push-to-hub", "--hub-model-id", "me/prm"])
    config = train_cli._config(args)
    assert config.push_to_hub and config.hub_model_id == "me/prm" and config.save_total_limit == 1
    assert config.training_arguments(False).push_to_hub is True
    assert config.bf16 is None and config.data_files == ("x.jsonl",)


def _untied_reward_folder(folder):
    tokenizer = tiny_tokenizer()
    lm = tiny_causal_lm(tokenizer)
    lm.config.tie_word_embeddings = False
    RewardModel.from_causal_lm(lm, tokenizer, RewardConfig(trained_heads=("step",))).save_pretrained(folder, tokenizer)
    return folder


def test_wrong_class_loads_fail_or_warn_by_name(tmp_path, caplog):
    from transformers import AutoModelForCausalLM

    from prm.modeling.adapters import ClassificationHeadPRM, LabelTokenPRM
    from prm.modeling.loading import load_causal_lm

    folder = _untied_reward_folder(tmp_path / "rm")
    with pytest.raises(ValueError, match=r"LlamaForTokenClassification.*as LlamaForCausalLM.*lm_head.*prm train"):
        load_causal_lm(folder)
    with pytest.raises(ValueError, match="LlamaForTokenClassification"):
        LabelTokenPRM.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"LlamaForTokenClassification.*--prm-kind toolkit"):
        ClassificationHeadPRM.from_pretrained(folder)
    # A tied LM head is whole: the load goes on, and says the folder's own head is dropped.
    tokenizer = tiny_tokenizer()
    RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer).save_pretrained(tmp_path / "tied", tokenizer)
    with caplog.at_level(logging.WARNING, logger="prm.modeling.standard"):
        load_checked(AutoModelForCausalLM, tmp_path / "tied")
    assert "LlamaForTokenClassification" in caplog.text and "LlamaForCausalLM" in caplog.text


def test_older_folders_still_load(tmp_path):
    """A folder of the previous layout (bare backbone, both heads in reward_heads) loads."""
    from safetensors.torch import save_file

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=("step",)))
    model.backbone.save_pretrained(tmp_path)
    heads = {k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    save_file(heads, str(tmp_path / "reward_heads.safetensors"))
    (tmp_path / "reward_config.json").write_text(json.dumps(model.reward_config.to_dict()))
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_reward_model(tmp_path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, msg=key)


@pytest.mark.parametrize("rank, prints", [("0", True), ("1", False)])
def test_cli_summary_comes_from_rank_zero_only(tmp_path, monkeypatch, capsys, rank, prints):
    from prm.cli import main
    from prm.testing import save_tiny_backbone

    backbone = save_tiny_backbone(tmp_path / "backbone")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in solutions(4)))
    monkeypatch.setenv("RANK", rank)
    assert main(["train", "--data", str(data), "--model", str(backbone), "--max-steps", "1", "--batch-size", "4",
                 "--eval-data", str(data), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert ("train loss" in out) is prints
    if prints:
        assert "eval step        accuracy" in out
