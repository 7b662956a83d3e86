"""Training objectives as a registry of named losses.

Public: `OBJECTIVES`, `ObjectiveConfig`, `LossTerm`, `loss_terms`, `reduce_terms`,
`step_bce`, `outcome_bce`, `bradley_terry`.

Objectives (`ObjectiveConfig.name`):
- `hard`: binary cross-entropy at tag positions, labels thresholded at 0.5 (PRM800K, hard
  Math-Shepherd). Unsupervised steps (None, e.g. PRM800K neutral under `drop`, or steps after
  the first error) hold IGNORE and add nothing; those policies are the reader's.
- `soft`: the same with the label value as the target (Monte Carlo values in [0, 1]).
- `orm`: binary cross-entropy of the outcome head against the solution's correctness.
- `bradley_terry`: -log sigmoid(r_chosen - r_rejected) on the outcome head, per pair.
- `joint`: step_weight * soft step loss + outcome_weight * outcome loss, in one pass.
- `implicit`: outcome cross-entropy on beta * log(pi(y) / pi_ref(y)) of a causal LM (PRIME's
  implicit PRM); its trainer is `orm.implicit_training.train_implicit`, not this registry.
- `label_token`: the soft step loss on a label-token PRM's logit difference (logit('+') -
  logit('-') at each tag, `prm.training.label_token`); 0/1 labels make it the hard loss.

Each objective yields `LossTerm`s (a sum over items and the item count); `reduce_terms`
divides each sum by its count, which the trainer may first add up over processes so that a
multi-process step equals a single-process step on the same global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F

from prm.training.collate import IGNORE

OBJECTIVES = ("hard", "soft", "orm", "bradley_terry", "joint", "label_token", "implicit")
_HEADS = {
    "hard": ("step",),
    "soft": ("step",),
    "orm": ("outcome",),
    "bradley_terry": ("outcome",),
    "joint": ("step", "outcome"),
    "label_token": ("step",),
    "implicit": ("step", "outcome"),
}


@dataclass(frozen=True)
class ObjectiveConfig:
    """name: one of OBJECTIVES. step_weight, outcome_weight: the joint objective's weights."""

    name: str = "hard"
    step_weight: float = 1.0
    outcome_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ValueError(
                f"ObjectiveConfig.name is {self.name!r}; allowed: {', '.join(OBJECTIVES)}"
            )
        for field_name in ("step_weight", "outcome_weight"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"ObjectiveConfig.{field_name} must be a number >= 0, got {value!r}")

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads this objective trains: "step", "outcome" or both."""
        return _HEADS[self.name]

    @property
    def uses_pairs(self) -> bool:
        """True when training rows are (chosen, rejected) pairs rather than solutions."""
        return self.name == "bradley_terry"


@dataclass(frozen=True)
class LossTerm:
    """total: the summed loss over `count` items (a 0-dim tensor each); weight: its share."""

    total: torch.Tensor
    count: torch.Tensor
    weight: float = 1.0


def step_bce(step_logits: torch.Tensor, step_labels: torch.Tensor, hard: bool) -> LossTerm:
    """step_logits, step_labels: (batch, seq); labels IGNORE off tag positions."""
    mask = step_labels != IGNORE
    targets = step_labels[mask].float()
    if hard:
        targets = (targets >= 0.5).float()
    losses = F.binary_cross_entropy_with_logits(step_logits[mask].float(), targets, reduction="sum")
    return LossTerm(losses, mask.sum())


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


def _need(batch: Mapping[str, torch.Tensor], key: str, name: str) -> torch.Tensor:
    if key not in batch:
        raise ValueError(
            f"objective {name!r} needs {key!r} in the batch; "
            + ("give (prompt, chosen, rejected) pairs" if name == "bradley_terry" else "give step-wise solutions")
        )
    return batch[key]


def _hard(outputs, batch, config):
    return [step_bce(outputs.step_logits, _need(batch, "step_labels", config.name), hard=True)]


def _soft(outputs, batch, config):
    return [step_bce(outputs.step_logits, _need(batch, "step_labels", config.name), hard=False)]


def _orm(outputs, batch, config):
    return [outcome_bce(outputs.outcome_logits, _need(batch, "outcome_labels", config.name))]


def _bradley_terry(outputs, batch, config):
    if "step_labels" in batch:
        raise ValueError("objective 'bradley_terry' needs pair rows, got step-wise solutions")
    return [bradley_terry(outputs.outcome_logits)]


def _joint(outputs, batch, config):
    step = step_bce(outputs.step_logits, _need(batch, "step_labels", config.name), hard=False)
    outcome = outcome_bce(outputs.outcome_logits, _need(batch, "outcome_labels", config.name))
    return [
        LossTerm(step.total, step.count, float(config.step_weight)),
        LossTerm(outcome.total, outcome.count, float(config.outcome_weight)),
    ]


_REGISTRY: dict[str, Callable] = {
    "hard": _hard,
    "soft": _soft,
    "orm": _orm,
    "bradley_terry": _bradley_terry,
    "joint": _joint,
    "label_token": _soft,
}


def loss_terms(config: ObjectiveConfig, outputs, batch: Mapping[str, torch.Tensor]) -> list[LossTerm]:
    """The objective's terms for one batch; `outputs` is a `RewardModelOutput`."""
    if config.name not in _REGISTRY:  # a config built around __post_init__
        raise ValueError(f"unknown objective {config.name!r}; allowed: {', '.join(OBJECTIVES)}")
    return _REGISTRY[config.name](outputs, batch, config)


def reduce_terms(
    terms: list[LossTerm],
    global_count: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """sum_i weight_i * total_i / count_i, where count_i is `global_count(count_i)` when given.

    A term with no items adds 0 (with a graph, so every process still runs backward).
    `scale` multiplies the result (the number of processes, where gradients are averaged).
    """
    loss = None
    for term in terms:
        count = term.count if global_count is None else global_count(term.count)
        part = term.weight * term.total / count.clamp(min=1).to(term.total.dtype)
        loss = part if loss is None else loss + part
    if loss is None:
        raise ValueError("the objective produced no loss terms")
    return loss * scale
