"""Training an implicit PRM on outcome labels (PRIME's cross-entropy objective).

Public: `implicit_rows`, `ImplicitCollator`, `train_implicit`.

`train_implicit(config, records, model=causal_lm, tokenizer=...)` keeps a frozen copy of the
model as pi_ref, and trains the model so that sigmoid(beta * log(pi(y) / pi_ref(y))) predicts
each solution's outcome label (`prm.training.collate.outcome_label`: a meta correctness field,
else the lowest step label). The Trainer is `transformers.Trainer` with this one loss; its
checkpoints and the final folder are implicit-PRM folders (`orm.implicit`) that
`orm.implicit.ImplicitPRM.from_pretrained` loads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from transformers import Trainer

from orm.implicit import ImplicitPRMConfig, ImplicitRewardModel, encode_steps, pad_encoded, pad_id
from prm.records import StepwiseSolution
from prm.training.collate import outcome_label
from prm.training.datasets import DatasetReport
from prm.training.trainer import FolderSaving, LossOnlyPrediction, train_whole_model


def implicit_rows(
    records: Sequence[StepwiseSolution], tokenizer: Any, config: ImplicitPRMConfig, max_length: int | None,
) -> tuple[list[dict[str, Any]], DatasetReport]:
    """One row per solution with an outcome label: input_ids, step_ids, outcome_label, length.
    A solution longer than max_length is left out (its outcome would be read from part of it)."""
    rows: list[dict[str, Any]] = []
    too_long = unsupervised = 0
    for index, record in enumerate(records):
        if not isinstance(record, StepwiseSolution):
            raise ValueError(f"record {index} is a {type(record).__name__}; objective 'implicit' trains on StepwiseSolution records")
        label = outcome_label(record)
        if label is None or not record.steps:
            unsupervised += 1
            continue
        input_ids, step_ids = encode_steps(tokenizer, config, record.prompt, record.steps)
        if max_length is not None and len(input_ids) > max_length:
            too_long += 1
            continue
        rows.append({"input_ids": input_ids, "step_ids": step_ids, "outcome_label": float(label), "length": len(input_ids)})
    report = DatasetReport(len(records), len(rows), 0, too_long, unsupervised)
    if not rows:
        raise ValueError(
            f"no training rows left from {len(records)} records ({too_long} longer than max_length={max_length}, "
            f"{unsupervised} without an outcome label); raise max_length or label the outcomes"
        )
    return rows, report


@dataclass(frozen=True)
class ImplicitCollator:
    """Rows -> input_ids, attention_mask, step_ids (batch, seq) and outcome_labels (batch,)."""

    pad_token_id: int

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask, step_ids = pad_encoded(
            [(f["input_ids"], f["step_ids"]) for f in features], self.pad_token_id
        )
        labels = torch.tensor([float(f["outcome_label"]) for f in features], dtype=torch.float32)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "step_ids": step_ids, "outcome_labels": labels}


class _ImplicitTrainer(FolderSaving, LossOnlyPrediction, Trainer):
    """Trainer with the outcome cross-entropy on beta * log(pi / pi_ref); saves PRM folders."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        rewards = model(inputs["input_ids"], inputs["attention_mask"], inputs["step_ids"])  # (batch,)
        loss = F.binary_cross_entropy_with_logits(rewards.float(), inputs["outcome_labels"].float())
        return (loss, rewards) if return_outputs else loss


def train_implicit(
    config: Any,
    train_records: Sequence[StepwiseSolution],
    eval_records: Sequence[StepwiseSolution] | None = None,
    *,
    model: torch.nn.Module,
    tokenizer: Any,
    implicit_config: ImplicitPRMConfig | None = None,
):
    """Train causal LM `model` as an implicit PRM under `config` (a `prm.training.TrainConfig`;
    its objective is not read) and save it to config.output_dir; returns a `TrainResult` whose
    model is the `ImplicitRewardModel`."""
    implicit_config = implicit_config or ImplicitPRMConfig()
    wrapped = ImplicitRewardModel(model, copy.deepcopy(model), implicit_config.beta)
    return train_whole_model(
        config, wrapped, tokenizer, implicit_config,
        lambda records: implicit_rows(records, tokenizer, implicit_config, config.max_length),
        _ImplicitTrainer, ImplicitCollator(pad_id(tokenizer)), train_records, eval_records,
    )
