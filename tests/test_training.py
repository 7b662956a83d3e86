"""Objectives, datasets and the Trainer wiring on a tiny in-process model."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

import orm.objectives  # noqa: F401  (registers orm, bradley_terry, joint, as prm train does)
from prm.modeling import RewardModel
from prm.records import PreferencePair, StepwiseSolution
from prm.steps import StepFormat
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import (
    IGNORE,
    LoraOptions,
    ObjectiveConfig,
    RewardCollator,
    TrainConfig,
    build_dataset,
    train,
)
from prm.training.losses import loss_terms, reduce_terms


def solutions(n=8):
    records = []
    for i in range(n):
        good = i % 2 == 0
        last = f"The answer is {i + 4}." if good else "So, therefore, thus, hence 100."
        steps = (f"{i} + 4 = {i + 4}.", last)
        records.append(StepwiseSolution(f"What is {i} + 4?", steps, (1.0, 1.0 if good else 0.0 if i % 4 else 0.3)))
    return records


def pairs(n=8):
    return [
        PreferencePair(f"What is {i} + 4?", (f"{i} + 4 = {i + 4}.",), (f"{i} + 4 = {i + 5}.", "So it is wrong."))
        for i in range(n)
    ]


def _loss(model, tokenizer, records, objective):
    data, _ = build_dataset(records, tokenizer, model.step_format, objective)
    batch = RewardCollator.for_tokenizer(tokenizer)(list(data))
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return float(reduce_terms(loss_terms(objective, out, batch)))


def _config(tmp_path, objective="hard", **kwargs):
    defaults = dict(max_steps=12, learning_rate=5e-3, batch_size=4, logging_steps=1, save_steps=100)
    defaults.update(kwargs)
    return TrainConfig(output_dir=str(tmp_path), objective=ObjectiveConfig(objective), **defaults)


@pytest.mark.parametrize(
    "objective", ["hard"] + [pytest.param(o, marks=pytest.mark.slow) for o in ("soft", "orm", "joint", "bradley_terry")]
)
def test_parameters_change_and_loss_falls(tmp_path, objective):
    tokenizer = tiny_tokenizer()
    records = pairs() if objective == "bradley_terry" else solutions()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer)
    config = _config(tmp_path, objective)
    before_loss = _loss(model, tokenizer, records, config.objective)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(config, records, model=model, tokenizer=tokenizer)
    after_loss = _loss(result.model, tokenizer, records, config.objective)
    assert after_loss < before_loss
    changed = {k for k, v in result.model.state_dict().items() if not torch.equal(v, before[k])}
    heads = config.objective.heads
    for head in heads:
        assert f"{head}_head.linear.weight" in changed
    assert "backbone.layers.0.self_attn.q_proj.weight" in changed
    assert result.model.reward_config.objective == objective
    assert (tmp_path / "reward_config.json").is_file()
    assert result.metrics["train_rows"] == len(records)


def test_unknown_objective_raises_with_the_allowed_names():
    with pytest.raises(ValueError, match="hard, soft, orm, bradley_terry, joint"):
        ObjectiveConfig("focal")
    with pytest.raises(ValueError, match="step_weight"):
        ObjectiveConfig("joint", step_weight=-1)


def test_train_config_validation(tmp_path):
    with pytest.raises(ValueError, match="device"):
        TrainConfig(output_dir=str(tmp_path), device="tpu")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(output_dir=str(tmp_path), batch_size=0)


def test_dataset_report_counts_what_it_leaves_out():
    tokenizer = tiny_tokenizer()
    fmt = StepFormat()
    tokenizer.add_special_tokens({"additional_special_tokens": [fmt.tag]})
    records = solutions(4) + [StepwiseSolution("q", ("a", "b"), (None, None)), StepwiseSolution("q" * 200, ("a",), (1.0,))]
    data, report = build_dataset(records, tokenizer, fmt, ObjectiveConfig("hard"), max_length=40)
    assert (report.records, report.rows, report.skipped_unsupervised, report.skipped_too_long) == (6, 4, 1, 1)
    assert len(data) == 4 and set(data.column_names) >= {"input_ids", "label_positions", "step_labels", "length"}
    with pytest.raises(ValueError, match="no training rows"):
        build_dataset(records[4:5], tokenizer, fmt, ObjectiveConfig("hard"))
    with pytest.raises(ValueError, match="pairs"):
        build_dataset(solutions(2), tokenizer, fmt, ObjectiveConfig("bradley_terry"))
    unlabelled_outcome = [StepwiseSolution("q", ("a",), (None,))]
    with pytest.raises(ValueError, match="without labels"):
        build_dataset(unlabelled_outcome, tokenizer, fmt, ObjectiveConfig("orm"))


def test_loss_ignores_unsupervised_positions():
    logits = torch.tensor([[5.0, -3.0, 0.0]])
    labels = torch.tensor([[IGNORE, 0.0, IGNORE]])

    class Out:
        step_logits = logits
        outcome_logits = torch.zeros(1)

    terms = loss_terms(ObjectiveConfig("soft"), Out, {"step_labels": labels})
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(-3.0), torch.tensor(0.0))
    torch.testing.assert_close(reduce_terms(terms), expected)
    hard = loss_terms(ObjectiveConfig("hard"), Out, {"step_labels": torch.tensor([[0.7, IGNORE, IGNORE]])})
    torch.testing.assert_close(
        reduce_terms(hard),
        torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(5.0), torch.tensor(1.0)),
    )


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


@pytest.mark.slow
def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path):
    records = solutions(8)

    def run(out, resume=None, callbacks=()):
        tokenizer = tiny_tokenizer()
        model = tiny_causal_lm(tokenizer)
        config = _config(out, "joint", max_steps=6, batch_size=2, save_steps=3, resume_from_checkpoint=resume)
        return train(config, records, model=model, tokenizer=tokenizer, callbacks=callbacks).model

    whole = run(tmp_path / "whole")
    run(tmp_path / "cut", callbacks=[_StopAt(3)])
    checkpoint = tmp_path / "cut" / "checkpoint-3"
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "reward_config.json").is_file()
    from transformers import AutoModel

    from prm.modeling.standard import read_reward_state

    saved = read_reward_state(checkpoint)  # the standard folder's tensors, as RewardModel keys
    readable = RewardModel.from_pretrained(checkpoint)  # a Trainer checkpoint loads for scoring too
    assert readable.reward_config.objective == "joint"
    for name, value in readable.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert type(AutoModel.from_pretrained(checkpoint)).__name__ == "LlamaModel"  # it has a model_type
    resumed = run(tmp_path / "cut", resume=str(checkpoint))
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.slow
def test_lora_trains_heads_and_adapters_and_saves_a_merged_folder(tmp_path):
    pytest.importorskip("peft")
    tokenizer = tiny_tokenizer()
    model = tiny_causal_lm(tokenizer)
    config = _config(tmp_path, "hard", max_steps=4, lora=LoraOptions(r=4, alpha=8, dropout=0.0))
    result = train(config, solutions(), model=model, tokenizer=tokenizer)
    assert type(result.model.backbone).__name__ == "LlamaModel"  # merged back
    loaded = RewardModel.from_pretrained(tmp_path)
    for (name, a), b in zip(result.model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_gradient_accumulation_matches_the_large_batch(tmp_path):
    # Every row has two labels, so a mean over micro-batches equals the mean over the batch.
    records = solutions(8)

    def run(out, batch_size, accumulation):
        tokenizer = tiny_tokenizer()
        config = _config(out, "soft", max_steps=2, batch_size=batch_size, gradient_accumulation_steps=accumulation,
                         learning_rate=0.5, extra_args={"train_sampling_strategy": "sequential", "optim": "sgd"})
        return train(config, records, model=tiny_causal_lm(tokenizer), tokenizer=tokenizer).model

    large = run(tmp_path / "large", 4, 1)
    accumulated = run(tmp_path / "accumulated", 2, 2)
    for (name, a), b in zip(large.state_dict().items(), accumulated.state_dict().values()):
        torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5, msg=name)
