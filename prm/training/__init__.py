"""Training reward models: label alignment, objectives and the Trainer wiring.

Public: `train`, `TrainConfig`, `TrainResult`, `LoraOptions`, `RewardTrainer`
(`prm.training.trainer`); `ObjectiveConfig`, `Objective`, `register_objective`, `objective_names`
(`prm.training.losses`: the objective protocol and registry, with the step objectives; the
outcome objectives are `orm.objectives`, registered when it is imported);
`RewardCollator`, `encode_solution`, `encode_pair` (`prm.training.collate`);
`build_dataset` (`prm.training.datasets`); `PackedCollator` and the packed attention
(`prm.training.packing`). The `prm train` command is `prm.cli.train`.
"""

from prm.training.collate import IGNORE, RewardCollator, encode_pair, encode_solution, outcome_label
from prm.training.datasets import DatasetReport, build_dataset
from prm.training.losses import Objective, ObjectiveConfig, objective_names, register_objective
from prm.training.trainer import LoraOptions, RewardTrainer, TrainConfig, TrainResult, train

__all__ = [
    "IGNORE",
    "DatasetReport",
    "LoraOptions",
    "Objective",
    "ObjectiveConfig",
    "RewardCollator",
    "RewardTrainer",
    "TrainConfig",
    "TrainResult",
    "build_dataset",
    "encode_pair",
    "encode_solution",
    "objective_names",
    "outcome_label",
    "register_objective",
    "train",
]
