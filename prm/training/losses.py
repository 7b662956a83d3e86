"""Training objectives: the protocol the trainer calls, a registry of them by name, and the
step objectives.

Public: `Objective`, `register_objective`, `objective_named`, `objective_names`,
`ObjectiveConfig`, `LossTerm`, `loss_terms`, `reduce_terms`, `require_labels`, `step_bce`.

An `Objective` declares its name, the heads it trains, what rows it reads and its loss; the
trainer (`prm.training.trainer`) and the dataset builder (`prm.training.datasets`) ask it, and
nothing else encodes which objective uses which head. Objectives defined here:
- `hard`: binary cross-entropy at tag positions, labels thresholded at 0.5 (PRM800K, hard
  Math-Shepherd). Unsupervised steps (None, e.g. PRM800K neutral under `drop`, or steps after
  the first error) hold IGNORE and add nothing; those policies are the reader's.
- `soft`: the same with the label value as the target (Monte Carlo values in [0, 1]).
- `label_token`: the soft step loss on a label-token PRM's logit difference (logit('+') -
  logit('-') at each tag, `prm.training.label_token`, its own trainer); 0/1 labels make it the
  hard loss.
Outcome supervision is `orm`'s: `orm.objectives` implements `orm` (correctness BCE),
`bradley_terry`, `joint` (step and outcome losses in one pass) and `implicit` (PRIME) on this
protocol and registers them when imported; the core never imports `orm`, so `prm train` (the
wing) imports `orm.objectives` and composes the two by name.

Each objective yields `LossTerm`s (a sum over items and the item count); `reduce_terms`
divides each sum by its count, which the trainer may first add up over processes so that a
multi-process step equals a single-process step on the same global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from prm.training.collate import IGNORE

SUPERVISES = ("step", "outcome", "either")


@dataclass(frozen=True)
class LossTerm:
    """total: the summed loss over `count` items (a 0-dim tensor each); weight: its share."""

    total: torch.Tensor
    count: torch.Tensor
    weight: float = 1.0


@dataclass(frozen=True)
class Objective:
    """One training objective, as the trainer calls it.

    name: what `ObjectiveConfig.name` (and `prm train --objective`) says. heads: the reward
    model's heads it trains ("step", "outcome"), recorded in the saved `RewardConfig`.
    loss(outputs, batch, config) -> list[LossTerm]: its terms for one batch (`outputs` a
    `RewardModelOutput`, `batch` the collated labels, `config` the `ObjectiveConfig` with the
    weights). pairs: it trains on (prompt, chosen, rejected) pairs, not step-wise solutions.
    supervises: the label that makes a solution row worth training on ("step", "outcome" or
    "either"). fit: a trainer of its own, called as `train` is, for an objective that trains a
    whole model rather than the two reward heads (None: `RewardTrainer` with `loss`).
    """

    name: str
    heads: tuple[str, ...]
    loss: Callable[[Any, Mapping[str, torch.Tensor], Any], list[LossTerm]] | None = None
    pairs: bool = False
    supervises: str = "either"
    fit: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if self.supervises not in SUPERVISES:
            raise ValueError(f"Objective.supervises is {self.supervises!r}; allowed: {', '.join(SUPERVISES)}")
        if self.loss is None and self.fit is None:
            raise ValueError(f"objective {self.name!r} needs a loss or a trainer of its own (fit)")


_REGISTRY: dict[str, Objective] = {}


def register_objective(*objectives: Objective) -> None:
    """Add objectives to the registry by name; registering the same one again is a no-op."""
    for objective in objectives:
        known = _REGISTRY.get(objective.name)
        if known is not None and known != objective:
            raise ValueError(f"an objective named {objective.name!r} is already registered")
        _REGISTRY[objective.name] = objective


def objective_names() -> tuple[str, ...]:
    """The registered names: the reward-head objectives first, then those with a trainer of their own."""
    return tuple(sorted(_REGISTRY, key=lambda name: _REGISTRY[name].fit is not None))


def objective_named(name: str) -> Objective:
    """The registered objective called `name`; a ValueError naming the allowed ones otherwise."""
    if name not in _REGISTRY:
        hint = "" if "joint" in _REGISTRY else " (import orm.objectives to add the outcome objectives)"
        raise ValueError(f"ObjectiveConfig.name is {name!r}; allowed: {', '.join(objective_names())}{hint}")
    return _REGISTRY[name]


@dataclass(frozen=True)
class ObjectiveConfig:
    """name: a registered objective. step_weight, outcome_weight: the joint objective's weights."""

    name: str = "hard"
    step_weight: float = 1.0
    outcome_weight: float = 1.0

    def __post_init__(self) -> None:
        objective_named(self.name)
        for field_name in ("step_weight", "outcome_weight"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"ObjectiveConfig.{field_name} must be a number >= 0, got {value!r}")

    @property
    def objective(self) -> Objective:
        return objective_named(self.name)

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads this objective trains: "step", "outcome" or both."""
        return self.objective.heads

    @property
    def uses_pairs(self) -> bool:
        """True when training rows are (chosen, rejected) pairs rather than solutions."""
        return self.objective.pairs


def step_bce(step_logits: torch.Tensor, step_labels: torch.Tensor, hard: bool) -> LossTerm:
    """step_logits, step_labels: (batch, seq); labels IGNORE off tag positions."""
    mask = step_labels != IGNORE
    targets = step_labels[mask].float()
    if hard:
        targets = (targets >= 0.5).float()
    losses = F.binary_cross_entropy_with_logits(step_logits[mask].float(), targets, reduction="sum")
    return LossTerm(losses, mask.sum())


def require_labels(batch: Mapping[str, torch.Tensor], key: str, name: str) -> torch.Tensor:
    """batch[key], or a ValueError saying that objective `name` trains on step-wise solutions."""
    if key not in batch:
        raise ValueError(f"objective {name!r} needs {key!r} in the batch; give step-wise solutions")
    return batch[key]


def _hard(outputs, batch, config):
    return [step_bce(outputs.step_logits, require_labels(batch, "step_labels", config.name), hard=True)]


def _soft(outputs, batch, config):
    return [step_bce(outputs.step_logits, require_labels(batch, "step_labels", config.name), hard=False)]


def _fit_label_token(*args: Any, **kwargs: Any):
    from prm.training.label_token import train_label_token  # it imports the trainer, which imports this

    return train_label_token(*args, **kwargs)


register_objective(
    Objective("hard", ("step",), _hard, supervises="step"),
    Objective("soft", ("step",), _soft, supervises="step"),
    Objective("label_token", ("step",), _soft, supervises="step", fit=_fit_label_token),
)


def loss_terms(config: ObjectiveConfig, outputs, batch: Mapping[str, torch.Tensor]) -> list[LossTerm]:
    """The objective's terms for one batch; `outputs` is a `RewardModelOutput`."""
    objective = objective_named(config.name)
    if objective.loss is None:
        raise ValueError(f"objective {config.name!r} is trained by a trainer of its own, not by its loss terms")
    return objective.loss(outputs, batch, config)


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
