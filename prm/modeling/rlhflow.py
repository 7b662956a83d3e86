"""RLHFlow PRMs (`RLHFlow/Llama3.1-8B-PRM-Deepseek-Data`, `...-Mistral-Data`): "+" / "-" in chat.

Public: `ChatLabelTokenConfig`, `ChatLabelTokenPRM`.

The model is a causal LM read through its chat template: every step is a user turn (the first
one is the question, a space and the first step) answered by an assistant turn holding "+". A
step's score is P("+") against P("-") of the next-token distribution at the position just
before that assistant "+" (the authors' code reads logits[-3] of each prefix conversation
under Llama 3's template: the "+" is followed only by <|eot_id|>). Here one forward pass reads
every step: step k is read at the end of the conversation up to its user turn with the
assistant header (`add_generation_prompt`), which must be a prefix of the whole
conversation's tokens followed by "+" (a template where it is not raises). Ids are looked up
from the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from prm.modeling.adapters import (
    AdapterPRM,
    _check_batch_size,
    _check_text,
    _require_chat_template,
    label_token_ids,
)


@dataclass(frozen=True)
class ChatLabelTokenConfig:
    """good_token / bad_token: the assistant's label tokens ("+" / "-"); score = P(good).
    question_separator: between the question and the first step in the first user turn.
    batch_size: solutions per forward pass."""

    good_token: str = "+"
    bad_token: str = "-"
    question_separator: str = " "
    batch_size: int = 8

    def __post_init__(self) -> None:
        for name in ("good_token", "bad_token"):
            _check_text("ChatLabelTokenConfig", name, getattr(self, name))
        _check_text("ChatLabelTokenConfig", "question_separator", self.question_separator, allow_empty=True)
        if self.good_token == self.bad_token:
            raise ValueError(f"ChatLabelTokenConfig.good_token and bad_token must differ, both are {self.good_token!r}")
        _check_batch_size("ChatLabelTokenConfig", self.batch_size)


class ChatLabelTokenPRM(AdapterPRM):
    """RLHFlow-style PRM: a causal LM whose assistant turns answer each step with "+" or "-";
    `score_steps` gives P(good) against P(bad) before each assistant label."""

    config_class = ChatLabelTokenConfig

    def __init__(self, model: nn.Module, tokenizer: Any, config: ChatLabelTokenConfig | None = None):
        super().__init__(model, tokenizer, config)
        self.good_id, self.bad_id = label_token_ids(tokenizer, self.config)
        _require_chat_template(tokenizer, "an RLHFlow PRM")

    def conversation(self, prompt: str, steps: Sequence[str]) -> list[dict[str, str]]:
        """The chat the model card builds: user step / assistant "+" per step."""
        messages = []
        for index, step in enumerate(steps):
            text = prompt + self.config.question_separator + step if index == 0 else step
            messages += [{"role": "user", "content": text}, {"role": "assistant", "content": self.config.good_token}]
        return messages

    def build_text(self, prompt: str, steps: Sequence[str]) -> str:
        """The chat-templated input of the whole solution."""
        return self._render(self.conversation(prompt, steps), add_generation_prompt=False)

    def _render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def _ids(self, text: str) -> list[int]:
        # The template writes its own BOS, as apply_chat_template(tokenize=True) leaves it.
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def encode(self, prompt: str, steps: Sequence[str], index: int = 0) -> tuple[list[int], list[int]]:
        """(input_ids, read positions): step k is read at the last token of the conversation up
        to its user turn plus the assistant header, the token that predicts its "+"."""
        messages = self.conversation(prompt, steps)
        input_ids = self._ids(self.build_text(prompt, steps))
        positions = []
        for k in range(len(steps)):
            head = self._ids(self._render(messages[: 2 * k + 1], add_generation_prompt=True))
            if input_ids[: len(head)] != head or input_ids[len(head) : len(head) + 1] != [self.good_id]:
                raise ValueError(
                    f"solution {index}: under this chat template the assistant turn of step {k + 1} does not "
                    f"start with the {self.config.good_token!r} token right after its header, so the step's "
                    "label cannot be located (use the PRM's own tokenizer)"
                )
            positions.append(len(head) - 1)
        return input_ids, positions

    def step_values(self, output: Any) -> torch.Tensor:
        """Logits (batch, seq, vocab) -> P(good) against P(bad)."""
        return output.logits[..., [self.good_id, self.bad_id]].float().softmax(dim=-1)[..., 0]
