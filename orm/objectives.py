"""Outcome supervision objectives, on the protocol of `prm.training.losses`.

Public: `outcome_bce`, `bradley_terry`, `OUTCOME`, `BRADLEY_TERRY`, `JOINT`, `IMPLICIT`,
`OBJECTIVES`.

- `orm` (`OUTCOME`): binary cross-entropy of the outcome head against the solution's
  correctness (`prm.training.collate.outcome_label`).
- `bradley_terry`: -log sigmoid(r_chosen - r_rejected) on the outcome head, per pair
  (`orm.pairs`).
- `joint`: step_weight * the soft step loss (`prm.training.losses.step_bce`) + outcome_weight *
  the outcome loss, in one pass: `prm.training` trains both heads of one reward model.
- `implicit`: outcome cross-entropy on beta * log(pi(y) / pi_ref(y)) of a causal LM (PRIME's
  implicit PRM); its trainer is `orm.implicit_training.train_implicit`.

Importing this module registers them (`prm.training.losses.register_objective`), next to the
core's step objectives; `prm train` imports it and picks an objective by name.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from prm.training.collate import IGNORE
from prm.training.losses import LossTerm, Objective, register_objective, require_labels, step_bce


def outcome_bce(outcome_logits: torch.Tensor, outcome_labels: torch.Tensor) -> LossTerm:
    """outcome_logits, outcome_labels: (batch,); labels IGNORE where unknown."""
    mask = outcome_labels != IGNORE
    losses = F.binary_cross_entropy_with_logits(
        outcome_logits[mask].float(), outcome_labels[mask].float(), reduction="sum"
    )
    return LossTerm(losses, mask.sum())


def bradley_terry(outcome_logits: torch.Tensor) -> LossTerm:
    """outcome_logits: (2P,), the P chosen sides first, then the P rejected (RewardCollator)."""
    if outcome_logits.shape[0] % 2:
        raise ValueError(f"a pair batch needs an even number of rows, got {outcome_logits.shape[0]}")
    chosen, rejected = outcome_logits.float().chunk(2)
    losses = -F.logsigmoid(chosen - rejected).sum()
    return LossTerm(losses, torch.tensor(chosen.shape[0], device=outcome_logits.device))


def _outcome(outputs, batch, config):
    return [outcome_bce(outputs.outcome_logits, require_labels(batch, "outcome_labels", config.name))]


def _bradley_terry(outputs, batch, config):
    if "step_labels" in batch:
        raise ValueError("objective 'bradley_terry' needs pair rows, got step-wise solutions")
    return [bradley_terry(outputs.outcome_logits)]


def _joint(outputs, batch, config):
    step = step_bce(outputs.step_logits, require_labels(batch, "step_labels", config.name), hard=False)
    outcome = outcome_bce(outputs.outcome_logits, require_labels(batch, "outcome_labels", config.name))
    return [
        LossTerm(step.total, step.count, float(config.step_weight)),
        LossTerm(outcome.total, outcome.count, float(config.outcome_weight)),
    ]


def _fit_implicit(*args: Any, **kwargs: Any):
    from orm.implicit_training import train_implicit  # transformers' Trainer loads only to train

    return train_implicit(*args, **kwargs)


OUTCOME = Objective("orm", ("outcome",), _outcome, supervises="outcome")
BRADLEY_TERRY = Objective("bradley_terry", ("outcome",), _bradley_terry, pairs=True)
JOINT = Objective("joint", ("step", "outcome"), _joint)
IMPLICIT = Objective("implicit", ("step", "outcome"), fit=_fit_implicit)
OBJECTIVES = (OUTCOME, BRADLEY_TERRY, JOINT, IMPLICIT)

register_objective(*OBJECTIVES)
