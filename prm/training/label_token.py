"""Training a label-token PRM (Math-Shepherd / RLHFlow style): the LM head itself scores steps.

Public: `LABEL_TOKEN_CONFIG_NAME`, `LabelTokenModel`, `label_token_rows`, `prepare_label_tokens`,
`train_label_token`.

A step's score is P(good) against P(bad) of the causal LM's next-token distribution at the
step tag: softmax(logits[good], logits[bad])[0] = sigmoid(logits[good] - logits[bad]). So the
objective `label_token` is binary cross-entropy on that logit difference at every tag, with the
label value as the target (0/1 labels give the hard loss, Monte Carlo values the soft one).

Inputs are encoded exactly as `prm.modeling.adapters.LabelTokenPRM` reads them
(`encode_label_token`: question, separator, steps each followed by " " + tag), so the saved
folder, a plain causal-LM folder with its tokenizer and `label_token_config.json`, loads with
that adapter (`--prm-kind label_token`, or `math_shepherd` for the default tokens) and scores
as training computed. A tag that is not one token of the tokenizer is added to it (and the
embeddings resized); the label tokens must already be single tokens.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from prm.modeling.adapters import LabelTokenConfig, encode_label_token, label_token_ids, single_token_id
from prm.modeling.heads import position_ids_from_mask
from prm.modeling.reward_model import RewardModelOutput
from prm.records import StepwiseSolution
from prm.training.collate import IGNORE
from prm.training.datasets import DatasetReport
from prm.training.trainer import FolderSaving, RewardTrainer, train_whole_model

LABEL_TOKEN_CONFIG_NAME = "label_token_config.json"


class _LabelTokenTrainer(FolderSaving, RewardTrainer):
    """RewardTrainer whose checkpoints are label-token PRM folders."""


class LabelTokenModel(nn.Module):
    """A causal LM read at its label tokens: forward gives step_logits (batch, seq) =
    logits[..., good_id] - logits[..., bad_id], so sigmoid(step_logits) = P(good | good or bad).

    outcome_logits (batch,) are zeros: this model has no outcome head.
    """

    accepts_loss_kwargs = False

    def __init__(self, lm: nn.Module, good_id: int, bad_id: int) -> None:
        super().__init__()
        self.lm = lm
        self.good_id = good_id
        self.bad_id = bad_id

    @property
    def config(self) -> Any:
        return self.lm.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any) -> RewardModelOutput:
        """input_ids, attention_mask: (batch, seq); position ids count real tokens only, as the
        adapter passes them, so padding does not change a score."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        logits = self.lm(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids_from_mask(attention_mask),
        ).logits  # (batch, seq, vocab)
        step_logits = logits[..., self.good_id].float() - logits[..., self.bad_id].float()
        outcome_logits = torch.zeros(input_ids.shape[0], device=input_ids.device)
        return RewardModelOutput(step_logits=step_logits, outcome_logits=outcome_logits)

    def save_pretrained(self, directory: str | Path, tokenizer: Any, label_config: LabelTokenConfig) -> Path:
        """The causal-LM folder, its tokenizer and label_token_config.json."""
        directory = Path(directory)
        self.lm.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        (directory / LABEL_TOKEN_CONFIG_NAME).write_text(json.dumps(asdict(label_config), indent=2) + "\n")
        return directory


def prepare_label_tokens(lm: nn.Module, tokenizer: Any, label_config: LabelTokenConfig) -> tuple[int, int]:
    """(good_id, bad_id), looked up from the tokenizer; the tag is added as one token where it
    is not one already (embeddings resized). A label token that is not one token raises."""
    ids = tokenizer.encode(label_config.tag, add_special_tokens=False)
    if len(ids) != 1:
        tokenizer.add_tokens([label_config.tag])
        if lm.get_input_embeddings().weight.shape[0] < len(tokenizer):
            lm.resize_token_embeddings(len(tokenizer))
    single_token_id(tokenizer, label_config.tag, "step tag")
    return label_token_ids(tokenizer, label_config)


def label_token_rows(
    records: Sequence[StepwiseSolution], tokenizer: Any, label_config: LabelTokenConfig, max_length: int | None,
) -> tuple[list[dict[str, Any]], DatasetReport]:
    """Rows in `prm.training.collate.encode_solution`'s shape (so `RewardCollator` pads them),
    encoded as the label-token adapter reads them; whole trailing steps are cut to fit
    max_length. Rows with no labelled step, or no step that fits, are left out and counted."""
    rows: list[dict[str, Any]] = []
    dropped = too_long = unsupervised = 0
    tag_id = single_token_id(tokenizer, label_config.tag, "step tag")
    for index, record in enumerate(records):
        if not isinstance(record, StepwiseSolution):
            raise ValueError(f"record {index} is a {type(record).__name__}; label_token trains on StepwiseSolution records")
        labels = list(record.labels or [None] * len(record.steps))
        if all(v is None for v in labels):
            unsupervised += 1
            continue
        kept = len(record.steps)
        input_ids, positions = encode_label_token(tokenizer, label_config, record.prompt, record.steps, index, tag_id)
        while max_length is not None and len(input_ids) > max_length and kept > 0:
            kept -= 1
            input_ids, positions = encode_label_token(
                tokenizer, label_config, record.prompt, record.steps[:kept], index, tag_id
            )
        if kept == 0 or (max_length is not None and len(input_ids) > max_length):
            too_long += 1
            continue
        if all(v is None for v in labels[:kept]):
            unsupervised += 1
            continue
        dropped += len(record.steps) - kept
        rows.append({
            "input_ids": input_ids,
            "label_positions": positions,
            "step_labels": [IGNORE if v is None else float(v) for v in labels[:kept]],
            "outcome_label": IGNORE,
            "length": len(input_ids),
            "dropped_steps": len(record.steps) - kept,
        })
    report = DatasetReport(len(records), len(rows), dropped, too_long, unsupervised)
    if not rows:
        raise ValueError(
            f"no training rows left from {len(records)} records ({too_long} too long for max_length={max_length}, "
            f"{unsupervised} without step labels); raise max_length or check the labels"
        )
    return rows, report


def train_label_token(
    config: Any,
    train_records: Sequence[StepwiseSolution],
    eval_records: Sequence[StepwiseSolution] | None = None,
    *,
    model: nn.Module,
    tokenizer: Any,
    label_config: LabelTokenConfig | None = None,
):
    """Train causal LM `model` as a label-token PRM under `config` (a `TrainConfig` whose
    objective is `label_token`) and save it to config.output_dir; returns a `TrainResult`
    whose model is the `LabelTokenModel`."""
    from prm.training.collate import RewardCollator

    if config.objective.name != "label_token":
        raise ValueError(f"train_label_token needs objective 'label_token', got {config.objective.name!r}")
    label_config = label_config or LabelTokenConfig()
    good, bad = prepare_label_tokens(model, tokenizer, label_config)
    return train_whole_model(
        config, LabelTokenModel(model, good, bad), tokenizer, label_config,
        lambda records: label_token_rows(records, tokenizer, label_config, config.max_length),
        _LabelTokenTrainer, RewardCollator.for_tokenizer(tokenizer), train_records, eval_records,
        objective=config.objective,
    )
