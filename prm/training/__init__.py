"""Training reward models: label alignment, objectives and the Trainer wiring.

Public: `train`, `TrainConfig`, `TrainResult`, `LoraOptions`, `RewardTrainer`
(`prm.training.trainer`); `ObjectiveConfig`, `OBJECTIVES` (`prm.training.losses`);
`RewardCollator`, `encode_solution`, `encode_pair` (`prm.training.collate`);
`build_dataset` (`prm.training.datasets`); `PackedCollator` and the packed attention
(`prm.training.packing`). The `prm train` command is `prm.cli.train`.
"""

from prm.training.collate import IGNORE, RewardCollator, encode_pair, encode_solution, outcome_label
from prm.training.datasets import DatasetReport, build_dataset
from prm.training.losses import OBJECTIVES, ObjectiveConfig
from prm.training.trainer import LoraOptions, RewardTrainer, TrainConfig, TrainResult, train

__all__ = [
    "IGNORE",
    "OBJECTIVES",
    "DatasetReport",
    "LoraOptions",
    "ObjectiveConfig",
    "RewardCollator",
    "RewardTrainer",
    "TrainConfig",
    "TrainResult",
    "build_dataset",
    "encode_pair",
    "encode_solution",
    "outcome_label",
    "train",
]
