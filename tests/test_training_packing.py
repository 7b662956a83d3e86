"""Padding-free packed training: bins, the packed batch to the token, and the packed loss and
gradients equal to the padded path's on the same batch (prm.training.packing)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import orm.objectives  # noqa: F401  (registers orm, bradley_terry, joint, as prm train does)
from prm.modeling import RewardModel
from prm.records import PreferencePair, StepwiseSolution
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import IGNORE, ObjectiveConfig, RewardCollator, TrainConfig, build_dataset, train
from prm.training.losses import loss_terms, reduce_terms
from prm.training.packing import (
    PACKED_SDPA,
    PackedCollator,
    first_fit_decreasing,
    packed_attention,
    resolve_packing,
    supervised_length,
)


def solutions():
    """Six solutions of different lengths; some end in unsupervised steps, some have no outcome."""
    records = []
    for i in range(6):
        steps = [f"{i} + 4 = {i + 4}."] + ["So, therefore, thus, hence 100."] * (i % 3) + [f"The answer is {i + 4}."]
        labels: list[float | None] = [1.0] + [0.0] * (i % 3) + [1.0 if i % 2 else 0.3]
        if i in (1, 4):
            labels[-1] = None  # a trailing unsupervised step: packing drops its tokens
        meta = {"outcome": bool(i % 2)} if i != 2 else {}
        records.append(StepwiseSolution(f"What is {i} + 4?", tuple(steps), tuple(labels), meta=meta))
    return records


def pairs():
    return [PreferencePair(f"What is {i} + 4?", (f"{i} + 4 = {i + 4}.",) * (1 + i % 2),
                           (f"{i} + 4 = {i + 5}.", "So it is wrong.")) for i in range(4)]


def test_first_fit_decreasing_bins_longest_first():
    assert first_fit_decreasing([5, 3, 8, 2, 4], 10) == [[2, 3], [0, 4], [1]]
    assert first_fit_decreasing([5, 3, 8], None) == [[2, 0, 1]]
    assert first_fit_decreasing([12, 3], 10) == [[0], [1]]  # too long for the budget: a bin alone
    with pytest.raises(ValueError, match="budget"):
        first_fit_decreasing([1], 0)


def test_supervised_length_cuts_after_the_last_supervised_tag():
    row = {"input_ids": list(range(10)), "label_positions": [3, 6, 9], "step_labels": [1.0, 0.0, IGNORE],
           "outcome_label": 1.0}
    assert supervised_length(row, keep_outcome=False) == 7
    assert supervised_length(row, keep_outcome=True) == 10  # the outcome head reads the last token
    assert supervised_length({**row, "outcome_label": IGNORE}, keep_outcome=True) == 7


def test_packed_batch_to_the_token():
    rows = [
        {"input_ids": [5, 6, 7], "label_positions": [2], "step_labels": [1.0], "outcome_label": 1.0},
        {"input_ids": [8, 9, 10, 11, 12], "label_positions": [1, 4], "step_labels": [0.0, IGNORE],
         "outcome_label": IGNORE},
        {"input_ids": [13, 14], "label_positions": [1], "step_labels": [0.5], "outcome_label": 0.0},
    ]
    batch = PackedCollator(pad_token_id=0)(rows)
    # Row 1 loses its last three tokens (nothing supervised there); longest first: 3, 2, 2 tokens.
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 13, 14]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1]]
    assert batch["step_labels"].tolist() == [[IGNORE, IGNORE, 1.0, IGNORE, 0.0, IGNORE, 0.5]]
    assert batch["outcome_positions"].tolist() == [[0, 2], [0, 4], [0, 6]]
    assert batch["outcome_labels"].tolist() == [1.0, IGNORE, 0.0]
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 5, 7] and batch["max_length_q"] == 3
    two = PackedCollator(pad_token_id=0, max_tokens_per_row=4)(rows)
    assert two["input_ids"].tolist() == [[5, 6, 7, 0], [8, 9, 13, 14]]
    assert two["position_ids"].tolist() == [[0, 1, 2, 0], [0, 1, 0, 1]]  # padding: a segment of its own
    assert two["cu_seq_lens_q"].tolist() == [0, 3, 4, 6, 8]
    assert two["outcome_positions"].tolist() == [[0, 2], [1, 1], [1, 3]]


def _model(tokenizer, seed=0):
    return RewardModel.from_causal_lm(tiny_causal_lm(tokenizer, seed=seed), tokenizer)


def _loss_and_grads(model, batch, objective):
    model.zero_grad()
    outputs = model(**{k: v for k, v in batch.items() if k not in ("step_labels", "outcome_labels")})
    loss = reduce_terms(loss_terms(objective, outputs, batch))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("objective", ["hard", "soft", "orm", "joint", "bradley_terry"])
@pytest.mark.parametrize("padding_side,budget", [("right", None), ("left", 40)])
def test_packed_loss_and_gradients_equal_the_padded_path(objective, padding_side, budget):
    tokenizer = tiny_tokenizer(padding_side=padding_side)
    model = _model(tokenizer).train()
    config = ObjectiveConfig(objective)
    records = pairs() if config.uses_pairs else solutions()
    data, _ = build_dataset(records, tokenizer, model.step_format, config)
    features = list(data)
    padded = RewardCollator.for_tokenizer(tokenizer)(features)
    padded_loss, padded_grads = _loss_and_grads(model, padded, config)
    collator = PackedCollator.for_tokenizer(tokenizer, keep_outcome="outcome" in config.heads, max_tokens_per_row=budget)
    packed = collator(features)
    assert packed["input_ids"].numel() <= padded["input_ids"].numel()  # never more work
    if config.name in ("hard", "soft") and budget is None:  # trailing unsupervised steps dropped
        assert packed["input_ids"].numel() < sum(len(f["input_ids"]) for f in features)
    with packed_attention(model.backbone, PACKED_SDPA):
        packed_loss, packed_grads = _loss_and_grads(model, packed, config)
    assert model.backbone.config._attn_implementation == "sdpa"  # put back
    torch.testing.assert_close(packed_loss, padded_loss, rtol=1e-5, atol=1e-6)
    assert packed_grads.keys() == padded_grads.keys()
    for name, grad in padded_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_training_packed_and_padded_end_at_the_same_weights(tmp_path):
    results = {}
    for mode in ("on", "off"):
        tokenizer = tiny_tokenizer()  # a fresh one each time: training adds the step tag to it
        config = TrainConfig(output_dir=str(tmp_path / mode), objective=ObjectiveConfig("joint"), packing=mode,
                             max_steps=3, learning_rate=5e-3, batch_size=3, save_steps=100)
        results[mode] = train(config, solutions(), model=tiny_causal_lm(tokenizer), tokenizer=tokenizer)
    assert results["on"].metrics["train_packing"] == PACKED_SDPA
    assert results["off"].metrics["train_packing"] == "off"
    assert results["on"].model.backbone.config._attn_implementation == "sdpa"
    on, off = results["on"].model.state_dict(), results["off"].model.state_dict()
    for name, value in off.items():
        torch.testing.assert_close(on[name], value, rtol=1e-4, atol=1e-5, msg=name)


class _PlainBackbone(nn.Module):
    """A backbone outside transformers' attention interface."""


def test_resolve_packing():
    tokenizer = tiny_tokenizer()
    backbone = tiny_causal_lm(tokenizer).base_model
    assert resolve_packing("auto", backbone) and resolve_packing("on", backbone)
    assert not resolve_packing("off", backbone)
    assert not resolve_packing("auto", _PlainBackbone())
    with pytest.raises(ValueError, match="packing 'off'"):
        resolve_packing("on", _PlainBackbone())
    with pytest.raises(ValueError, match="allowed: auto, on, off"):
        TrainConfig(output_dir=str("x"), packing="yes")


def test_inside_packed_attention_padded_batches_score_as_before_and_bounds_follow_position_ids():
    tokenizer = tiny_tokenizer(padding_side="left")
    model = _model(tokenizer).eval()
    config = ObjectiveConfig("joint")
    features = list(build_dataset(solutions(), tokenizer, model.step_format, config)[0])
    padded = RewardCollator.for_tokenizer(tokenizer)(features)
    packed = PackedCollator.for_tokenizer(tokenizer)(features)
    with torch.no_grad():
        before = model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"])
        with packed_attention(model.backbone, PACKED_SDPA):  # e.g. ProcessBench scoring during training
            inside = model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"])
            with_bounds = model(**{k: v for k, v in packed.items() if k not in ("step_labels", "outcome_labels")})
            from_positions = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"],
                                   outcome_positions=packed["outcome_positions"])
    torch.testing.assert_close(inside.step_logits, before.step_logits)
    torch.testing.assert_close(inside.outcome_logits, before.outcome_logits)
    torch.testing.assert_close(from_positions.step_logits, with_bounds.step_logits)
    torch.testing.assert_close(with_bounds.outcome_logits[packed["outcome_labels"] != IGNORE],
                               before.outcome_logits[packed["outcome_labels"] != IGNORE], rtol=1e-5, atol=1e-6)
