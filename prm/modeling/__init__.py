"""Reward models: a Hugging Face backbone plus a step head and an outcome head.

Public: `RewardModel`, `RewardConfig`, `RewardModelOutput`, `ScalarHead`, `add_step_tag`,
`load_reward_model` (see `prm.modeling.reward_model`); `pad_batch` (`prm.modeling.batching`, the one
padding helper), `position_ids_from_mask`. Loading backbones by name or path lives in
`prm.modeling.loading`; public PRM conventions in `prm.modeling.adapters`; the standard
token-classification folder layout and loads that check their class in `prm.modeling.standard`.
"""

from prm.modeling.batching import pad_batch
from prm.modeling.heads import ScalarHead, last_token_index, position_ids_from_mask
from prm.modeling.reward_model import (
    RewardConfig,
    RewardModel,
    RewardModelOutput,
    add_step_tag,
    load_reward_model,
)

__all__ = [
    "RewardConfig",
    "RewardModel",
    "RewardModelOutput",
    "ScalarHead",
    "add_step_tag",
    "last_token_index",
    "load_reward_model",
    "pad_batch",
    "position_ids_from_mask",
]
