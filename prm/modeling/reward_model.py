"""The reward model: a Hugging Face backbone plus a step head and an outcome head.

Public: `RewardConfig`, `RewardModel`, `RewardModelOutput`, `add_step_tag`, `load_reward_model`.

One forward pass gives a step logit at every position (read at the step-tag positions that
`StepFormat.encode` reports) and an outcome logit at the last non-padding token, for left and
right padding alike. Heads give one logit each (see `prm.modeling.heads`).

A saved model is a standard Hugging Face token classifier in TRL's PRM convention
(`prm.modeling.standard`): `AutoModelForTokenClassification.from_pretrained(folder)` loads the
backbone and the step head as a 2-class head (softmax(...)[1] = the step score), the tokenizer
holds the step tag, `reward_heads.safetensors` the outcome head and `reward_config.json` the
step format, objective and head options. `from_pretrained` reads that layout, the older one
(the bare backbone, both heads in `reward_heads.safetensors`) and Trainer checkpoints of
earlier versions and of LoRA runs (`checkpoint-N/`: the whole state dict in
`model.safetensors`, plus `reward_config.json` and `backbone_config.json`).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn
from transformers.utils import ModelOutput

from prm.modeling.heads import ScalarHead, last_token_index, position_ids_from_mask
from prm.modeling.standard import HEADS_NAME, REWARD_CONFIG_NAME
from prm.steps import StepFormat

# Written by prm.training into Trainer checkpoints next to the RewardModel state dict.
TRAINER_BACKBONE_CONFIG = "backbone_config.json"
HEAD_KINDS = ("step", "outcome")


@dataclass(frozen=True)
class RewardConfig:
    """What a reward model needs besides its backbone weights.

    step_format: where steps end and labels live (`prm.steps.StepFormat`).
    objective: the training objective's name, recorded for readers (None before training).
    trained_heads: the heads that objective trained ("step", "outcome"); scorers refuse
        to read an untrained head.
    head_dropout: dropout before each head during training.
    """

    step_format: StepFormat = field(default_factory=StepFormat)
    objective: str | None = None
    trained_heads: tuple[str, ...] = ()
    head_dropout: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.step_format, StepFormat):
            raise ValueError(f"RewardConfig.step_format must be a StepFormat, got {self.step_format!r}")
        object.__setattr__(self, "trained_heads", tuple(self.trained_heads))
        for head in self.trained_heads:
            if head not in HEAD_KINDS:
                raise ValueError(
                    f"RewardConfig.trained_heads holds {head!r}; allowed: {', '.join(HEAD_KINDS)}"
                )
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"RewardConfig.head_dropout must be in [0, 1), got {self.head_dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["trained_heads"] = list(self.trained_heads)
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "RewardConfig":
        row = dict(row)
        row["step_format"] = StepFormat(**row.get("step_format", {}))
        row["trained_heads"] = tuple(row.get("trained_heads", ()))
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = set(row) - allowed
        if unknown:
            raise ValueError(f"unknown reward config keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        return cls(**row)


@dataclass
class RewardModelOutput(ModelOutput):
    """step_logits: (batch, seq), a step logit at every position (read them at tag positions).
    outcome_logits: (batch,), read at each row's last non-padding token."""

    step_logits: torch.Tensor | None = None
    outcome_logits: torch.Tensor | None = None


def add_step_tag(tokenizer: Any, backbone: nn.Module, step_format: StepFormat) -> list[int]:
    """Make the step tag encodable and return its ids.

    A special tag (`step_format.tag_is_special`) is added to the tokenizer when missing and the
    backbone's embeddings are resized to the tokenizer; it must then encode to one token. An
    ordinary tag (an existing token or string) is only looked up.
    """
    if step_format.tag_is_special:
        if step_format.tag not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [step_format.tag]})
        embeddings = backbone.get_input_embeddings()
        if embeddings.weight.shape[0] < len(tokenizer):
            backbone.resize_token_embeddings(len(tokenizer))
        ids = step_format.tag_ids(tokenizer)
        if len(ids) != 1:
            raise ValueError(
                f"the special step tag {step_format.tag!r} encodes to {len(ids)} tokens {ids}; "
                "a special tag must be one token (choose another tag or tag_is_special=False)"
            )
        return ids
    return step_format.tag_ids(tokenizer)


def _base_module(module: nn.Module) -> nn.Module:
    get_base = getattr(module, "get_base_model", None)  # peft wraps the backbone
    return get_base() if callable(get_base) else module


def _forward_params(module: nn.Module) -> set[str]:
    return set(inspect.signature(_base_module(module).forward).parameters)


class RewardModel(nn.Module):
    """backbone (a Hugging Face base model, no LM head) + step_head + outcome_head."""

    # forward takes **backbone_kwargs but no loss kwargs: tells Trainer not to pass
    # num_items_in_batch (RewardTrainer normalises its own loss).
    accepts_loss_kwargs = False

    def __init__(self, backbone: nn.Module, reward_config: RewardConfig | None = None) -> None:
        super().__init__()
        self.reward_config = reward_config or RewardConfig()
        self.backbone = backbone
        hidden_size = backbone.config.hidden_size
        dropout = self.reward_config.head_dropout
        self.step_head = ScalarHead(hidden_size, dropout, seed=0)
        self.outcome_head = ScalarHead(hidden_size, dropout, seed=1)
        self._backbone_params = _forward_params(backbone)

    @classmethod
    def from_causal_lm(
        cls, model: nn.Module, tokenizer: Any, reward_config: RewardConfig | None = None
    ) -> "RewardModel":
        """Wrap a causal LM (or a bare base model): keep its base, add the step tag."""
        reward_config = reward_config or RewardConfig()
        backbone = model.base_model
        add_step_tag(tokenizer, backbone, reward_config.step_format)
        return cls(backbone, reward_config)

    @property
    def config(self) -> Any:
        """The backbone's Hugging Face config (what Trainer and peft look for)."""
        return self.backbone.config

    @property
    def step_format(self) -> StepFormat:
        return self.reward_config.step_format

    def activation_checkpointing_enable(self, **kwargs: Any) -> None:
        """What Trainer calls for `activation_checkpointing=True`; the backbone does the work."""
        backbone = _base_module(self.backbone)
        enable = getattr(backbone, "activation_checkpointing_enable", None)
        if enable is None:  # transformers before v5 names it gradient_checkpointing_enable
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs.get("activation_checkpointing_kwargs"))
        else:
            enable(**kwargs)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        outcome_positions: torch.Tensor | None = None,
        **backbone_kwargs: Any,
    ) -> RewardModelOutput:
        """input_ids, attention_mask: (batch, seq) -> step_logits (batch, seq), outcome_logits (batch,).

        Position ids count real tokens only, so a left-padded row scores as its right-padded
        twin. Packed rows (`prm.training.packing`): no attention_mask, position_ids restarting
        per solution, outcome_positions (n, 2) long, each solution's (row, index) of its last
        token -> outcome_logits (n,). `inputs_embeds` (batch, seq, hidden) in backbone_kwargs
        replaces the token embeddings (input_ids then gives shapes only): the cached inputs of the
        first trained layer (`prm.training.frozen_cache`). Losses live in `prm.training.losses`.
        """
        kwargs = dict(backbone_kwargs)
        if outcome_positions is not None:
            if attention_mask is not None or "position_ids" not in kwargs:
                raise ValueError("packed rows (outcome_positions) take position_ids and no attention_mask")
            rows, last = outcome_positions.unbind(-1)
        else:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            if "position_ids" in self._backbone_params and "position_ids" not in kwargs:
                kwargs["position_ids"] = position_ids_from_mask(attention_mask)
            last = last_token_index(attention_mask)
            rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        if "use_cache" in self._backbone_params:
            kwargs.setdefault("use_cache", False)
        if kwargs.get("inputs_embeds") is not None:  # cached frozen layers (prm.training.frozen_cache)
            hidden = self.backbone(attention_mask=attention_mask, **kwargs)
        else:
            kwargs.pop("inputs_embeds", None)
            hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = hidden.last_hidden_state  # (batch, seq, hidden)
        step_logits = self.step_head(hidden)
        outcome_logits = self.outcome_head(hidden[rows, last])
        return RewardModelOutput(step_logits=step_logits, outcome_logits=outcome_logits)

    # ------------------------------------------------------------------ files
    def save_pretrained(self, directory: str | Path, tokenizer: Any = None) -> Path:
        """Write the standard folder (see module docstring); returns its path."""
        from prm.modeling.standard import write_reward_folder

        backbone = _base_module(self.backbone)
        if backbone is not self.backbone:
            raise ValueError(
                "the backbone still carries LoRA adapters; merge them first "
                "(model.backbone = model.backbone.merge_and_unload())"
            )
        directory = write_reward_folder(directory, backbone, self.reward_config.to_dict(), self.state_dict())
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
    ) -> "RewardModel":
        """Load a folder written by `save_pretrained` or `prm train` (the final model or a
        `checkpoint-N/`); raises naming what is missing."""
        from prm.modeling.standard import load_reward_parts

        directory = Path(directory)
        if (directory / TRAINER_BACKBONE_CONFIG).is_file() and not (directory / HEADS_NAME).is_file():
            return cls._from_trainer_checkpoint(directory, dtype).to(device).eval()
        for name in (REWARD_CONFIG_NAME, HEADS_NAME, "config.json"):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"{directory / name} not found: {directory} is not a reward-model folder "
                    "(write one with RewardModel.save_pretrained or `prm train`)"
                )
        reward_config = RewardConfig.from_dict(json.loads((directory / REWARD_CONFIG_NAME).read_text()))
        backbone, heads = load_reward_parts(directory, dtype)
        model = cls(backbone, reward_config)
        missing, unexpected = model.load_state_dict(heads, strict=False)
        missing_heads = [k for k in missing if not k.startswith("backbone.")]
        if missing_heads or unexpected:
            raise ValueError(
                f"{directory} does not hold both heads: missing {missing_heads}, unexpected {unexpected}"
            )
        return model.to(device).eval()

    @classmethod
    def _from_trainer_checkpoint(cls, directory: Path, dtype: torch.dtype | None) -> "RewardModel":
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        settings = json.loads((directory / TRAINER_BACKBONE_CONFIG).read_text())
        config = AutoConfig.for_model(settings.pop("model_type"), **settings)
        reward_config = RewardConfig.from_dict(json.loads((directory / REWARD_CONFIG_NAME).read_text()))
        model = cls(AutoModel.from_config(config), reward_config)
        state = load_file(str(directory / "model.safetensors"))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{directory} does not hold a full RewardModel state dict (a LoRA checkpoint?): "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}; load the final folder instead"
            )
        return model if dtype is None else model.to(dtype)


def load_reward_model(
    directory: str | Path, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> tuple[RewardModel, Any]:
    """A saved reward model and its tokenizer (which holds the step tag)."""
    from transformers import AutoTokenizer

    model = RewardModel.from_pretrained(directory, dtype=dtype, device=device)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return model, tokenizer
