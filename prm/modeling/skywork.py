"""Skywork PRMs (`Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B`, `-7B`): a value head on the step token.

Public: `ValueHeadConfig`, `ValueHeadModel`, `ValueHeadPRM`.

The model is a causal LM plus a value head, `v_head.summary` = Linear(hidden, 1), applied to
the last hidden state at every token; a step's score is sigmoid(value) at the step token that
ends it. The input is built as the authors' `prepare_input` does: the ids of
bos_token + question + "\\n", then for each step the ids of the step followed by the step
token's id ("\\n" by default). Steps arrive as a list here, so a step token inside a step's own
text is replaced by a space (the authors' code would split it into two steps). Ids are looked
up from the tokenizer.

transformers has no class for this shape (it ships as remote code); `ValueHeadModel` builds it
by composition (`AutoModelForCausalLM` + the head) and reads/writes the folder layout: the
causal LM's weights with `v_head.summary.*` beside them, config architectures `*ForPrmModel`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from prm.modeling.adapters import (
    AdapterPRM,
    _check_batch_size,
    _check_text,
    read_prefixed_weights,
    single_token_id,
)


@dataclass(frozen=True)
class ValueHeadConfig:
    """step_token: ends every step; the value is read at its token. batch_size: solutions per pass."""

    step_token: str = "\n"
    batch_size: int = 8

    def __post_init__(self) -> None:
        _check_text("ValueHeadConfig", "step_token", self.step_token)
        _check_batch_size("ValueHeadConfig", self.batch_size)


class ValueHeadModel(nn.Module):
    """A causal LM (`lm`) and a value head (`v_head.summary`: Linear(hidden, 1)).

    forward(input_ids, attention_mask, position_ids) -> values (batch, seq), one logit per token.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.config = lm.config
        self.v_head = nn.Module()
        self.v_head.summary = nn.Linear(lm.config.hidden_size, 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.lm.base_model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).last_hidden_state  # (batch, seq, hidden), after the final norm, as hidden_states[-1]
        summary = self.v_head.summary
        return summary(hidden.to(summary.weight.dtype)).squeeze(-1)

    def save_pretrained(self, path: str | Path) -> None:
        """The causal LM's folder with `v_head.summary.*` added to model.safetensors and the
        architecture named as Skywork's folders name it (e.g. Qwen2ForPrmModel)."""
        from safetensors.torch import load_file, save_file

        folder = Path(path)
        self.lm.save_pretrained(folder)
        # save_pretrained names the causal-LM class; Skywork's folders name the PRM class.
        settings = json.loads((folder / "config.json").read_text())
        settings["architectures"] = [type(self.lm.base_model).__name__.removesuffix("Model") + "ForPrmModel"]
        (folder / "config.json").write_text(json.dumps(settings, indent=2) + "\n")
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise ValueError(f"{folder} was written in shards; ValueHeadModel.save_pretrained writes one file only")
        state = load_file(str(weights))
        state.update({f"v_head.summary.{k}": v.contiguous() for k, v in self.v_head.summary.state_dict().items()})
        save_file(state, str(weights), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, path: str | Path, **model_kwargs: Any) -> "ValueHeadModel":
        """The causal LM through `AutoModelForCausalLM`, the head from the weight files."""
        from transformers import AutoModelForCausalLM

        folder = Path(path)
        lm = AutoModelForCausalLM.from_pretrained(str(folder), **model_kwargs)
        head = read_prefixed_weights(folder, "v_head.summary.", required="a value-head (Skywork) PRM folder")
        model = cls(lm)
        model.v_head.summary.load_state_dict(head)
        return model.to(next(lm.parameters()).dtype)


class ValueHeadPRM(AdapterPRM):
    """Skywork-style PRM: sigmoid(value head) at the token that ends each step (`score_steps`)."""

    config_class = ValueHeadConfig

    def __init__(self, model: nn.Module, tokenizer: Any, config: ValueHeadConfig | None = None):
        super().__init__(model, tokenizer, config)
        self.step_id = single_token_id(tokenizer, self.config.step_token, "step token")

    @classmethod
    def load_model(cls, name_or_path: str | Path, **model_kwargs: Any) -> nn.Module:
        return ValueHeadModel.from_pretrained(name_or_path, **model_kwargs)

    def build_text(self, prompt: str, steps: Sequence[str]) -> str:
        """The input as text (it is tokenized piece by piece, see `encode`)."""
        marker = self.config.step_token
        return (self.tokenizer.bos_token or "") + prompt + "\n" + "".join(
            step.replace(marker, " ") + marker for step in steps
        )

    def encode(self, prompt: str, steps: Sequence[str], index: int = 0) -> tuple[list[int], list[int]]:
        """(input_ids, step-token positions), as the authors' prepare_input builds them."""
        input_ids = list(self.tokenizer.encode((self.tokenizer.bos_token or "") + prompt + "\n"))
        positions = []
        for step in steps:
            input_ids += list(self.tokenizer.encode(step.replace(self.config.step_token, " ")))
            input_ids.append(self.step_id)
            positions.append(len(input_ids) - 1)
        return input_ids, positions

    def step_values(self, output: Any) -> torch.Tensor:
        """Values (batch, seq) -> sigmoid(values)."""
        return torch.sigmoid(output.float())
