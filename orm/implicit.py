"""Implicit PRM (PRIME, Yuan et al. 2024): process rewards from a policy trained on outcomes.

Public: `IMPLICIT_CONFIG_NAME`, `REFERENCE_FOLDER`, `ImplicitPRMConfig`, `ImplicitRewardModel`,
`encode_steps`, `pad_encoded`, `pad_id`, `ImplicitPRM`.

The reward of a solution y is r(y) = beta * log(pi(y) / pi_ref(y)), summed over y's tokens,
for a trained causal LM pi and its frozen starting point pi_ref. Training (`orm.implicit_training`)
is cross-entropy of sigmoid(r(y)) against the outcome label. A step's reward is the same sum
over that step's tokens only, so the step rewards of a solution add up to r(y). As a
`prm.scores.StepScorer`, step k scores sigmoid(r_1 + ... + r_k), the implicit value of the
prefix (its last step is the outcome probability); as an `OutcomeScorer`, sigmoid(r(y)).
`step_rewards` gives the raw r_k.

Text: prompt + question_separator, then every step followed by step_separator (not the last
one), each step tokenized on its own so its tokens are known exactly. A saved folder is the
policy's causal-LM folder, its tokenizer, `implicit_prm_config.json` and the reference model
under `reference/`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from prm.modeling.batching import pad_batch
from prm.modeling.heads import position_ids_from_mask

IMPLICIT_CONFIG_NAME = "implicit_prm_config.json"
REFERENCE_FOLDER = "reference"


@dataclass(frozen=True)
class ImplicitPRMConfig:
    """beta: the reward scale in r = beta * log(pi / pi_ref). question_separator: after the
    prompt; step_separator: between steps. batch_size: solutions per forward pass."""

    beta: float = 0.05
    question_separator: str = "\n\n"
    step_separator: str = "\n\n"
    batch_size: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.beta, (int, float)) or not self.beta > 0:
            raise ValueError(f"ImplicitPRMConfig.beta must be a number > 0, got {self.beta!r}")
        for name in ("question_separator", "step_separator"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"ImplicitPRMConfig.{name} must be a str, got {getattr(self, name)!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"ImplicitPRMConfig.batch_size must be an int >= 1, got {self.batch_size!r}")


def encode_steps(tokenizer: Any, config: ImplicitPRMConfig, prompt: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
    """(input_ids, step_ids): step_ids[t] is the step token t belongs to, -1 for the prompt."""
    input_ids = list(tokenizer.encode(prompt + config.question_separator, add_special_tokens=True))
    step_ids = [-1] * len(input_ids)
    for index, step in enumerate(steps):
        text = step + (config.step_separator if index < len(steps) - 1 else "")
        ids = list(tokenizer.encode(text, add_special_tokens=False))
        input_ids += ids
        step_ids += [index] * len(ids)
    return input_ids, step_ids


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its eos id, else 0 (padding is masked out either way)."""
    return int(next(c for c in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if c is not None))


def pad_encoded(encoded: Sequence[tuple[Sequence[int], Sequence[int]]], pad: int) -> tuple[torch.Tensor, ...]:
    """(input_ids, step_ids) rows -> input_ids, attention_mask, step_ids: (batch, seq), right
    padded, step_ids -1 on padding."""
    input_ids, attention_mask, offsets = pad_batch([ids for ids, _ in encoded], pad, "right")
    step_ids = torch.full(input_ids.shape, -1, dtype=torch.long)
    for row, ((_, row_steps), offset) in enumerate(zip(encoded, offsets)):
        step_ids[row, offset : offset + len(row_steps)] = torch.tensor(row_steps, dtype=torch.long)
    return input_ids, attention_mask, step_ids


def _token_log_probs(lm: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, seq): log p(token t | tokens < t), 0 at t = 0 (nothing predicts it)."""
    logits = lm(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids_from_mask(attention_mask),
    ).logits  # (batch, seq, vocab)
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = log_probs.gather(-1, input_ids[:, 1:, None]).squeeze(-1)  # (batch, seq - 1)
    return torch.cat([torch.zeros_like(picked[:, :1]), picked], dim=1)


class ImplicitRewardModel(nn.Module):
    """policy (trained) and reference (frozen) causal LMs; rewards are beta * their log ratio."""

    accepts_loss_kwargs = False

    def __init__(self, policy: nn.Module, reference: nn.Module, beta: float) -> None:
        super().__init__()
        self.policy = policy
        self.reference = reference.eval()
        for parameter in self.reference.parameters():
            parameter.requires_grad = False
        self.beta = float(beta)

    @property
    def config(self) -> Any:
        return self.policy.config

    def train(self, mode: bool = True) -> "ImplicitRewardModel":
        super().train(mode)
        self.reference.eval()  # the reference never drops out
        return self

    def step_rewards(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, step_ids: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask, step_ids: (batch, seq) -> step rewards (batch, max steps),
        beta * the log ratio summed over each step's tokens (0 past a row's last step)."""
        policy = _token_log_probs(self.policy, input_ids, attention_mask)
        with torch.no_grad():
            reference = _token_log_probs(self.reference, input_ids, attention_mask)
        in_step = (step_ids >= 0) & attention_mask.bool()
        ratio = torch.where(in_step, policy - reference, torch.zeros_like(policy))
        steps = int(step_ids.max().item()) + 1 if in_step.any() else 1
        rewards = torch.zeros(input_ids.shape[0], steps, dtype=ratio.dtype, device=ratio.device)
        rewards.scatter_add_(1, step_ids.clamp(min=0), ratio)
        return self.beta * rewards

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, step_ids: torch.Tensor, **_: Any) -> torch.Tensor:
        """Outcome rewards (batch,): the sum of the step rewards."""
        return self.step_rewards(input_ids, attention_mask, step_ids).sum(dim=1)

    def save_pretrained(self, directory: str | Path, tokenizer: Any, config: ImplicitPRMConfig) -> Path:
        """The policy folder with its tokenizer and config, the reference under reference/."""
        directory = Path(directory)
        self.policy.save_pretrained(directory)
        self.reference.save_pretrained(directory / REFERENCE_FOLDER)
        tokenizer.save_pretrained(directory)
        (directory / IMPLICIT_CONFIG_NAME).write_text(json.dumps(asdict(config), indent=2) + "\n")
        return directory


class ImplicitPRM:
    """An `ImplicitRewardModel` as a step scorer and an outcome scorer."""

    def __init__(self, model: ImplicitRewardModel, tokenizer: Any, config: ImplicitPRMConfig | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config or ImplicitPRMConfig(beta=model.beta)
        if self.config.beta != model.beta:
            raise ValueError(f"ImplicitPRMConfig.beta is {self.config.beta}, the model's {model.beta}; give one beta")

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> "ImplicitPRM":
        """Load a folder written by `ImplicitRewardModel.save_pretrained` (`prm train --objective implicit`)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory = Path(directory)
        for needed in (directory / IMPLICIT_CONFIG_NAME, directory / REFERENCE_FOLDER / "config.json"):
            if not needed.is_file():
                raise FileNotFoundError(
                    f"{needed} not found: {directory} is not an implicit-PRM folder (`prm train --objective implicit`)"
                )
        config = ImplicitPRMConfig(**json.loads((directory / IMPLICIT_CONFIG_NAME).read_text()))
        policy = AutoModelForCausalLM.from_pretrained(directory)
        reference = AutoModelForCausalLM.from_pretrained(directory / REFERENCE_FOLDER)
        model = ImplicitRewardModel(policy, reference, config.beta).to(device)
        return cls(model, AutoTokenizer.from_pretrained(directory), config)

    def build_text(self, prompt: str, steps: Sequence[str]) -> str:
        """The text the model reads for one solution (tokenized step by step by `encode`)."""
        return prompt + self.config.question_separator + self.config.step_separator.join(steps)

    def encode(self, prompt: str, steps: Sequence[str], index: int = 0) -> tuple[list[int], list[int]]:
        """(input_ids, step_ids) of one solution (`encode_steps`)."""
        return encode_steps(self.tokenizer, self.config, prompt, steps)

    def step_rewards(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per solution: r_k = beta * log(pi / pi_ref) over step k's tokens, one per step."""
        if len(prompts) != len(steps):
            raise ValueError(f"{len(prompts)} prompts but {len(steps)} step lists; give one per solution")
        results: list[list[float]] = [[] for _ in prompts]
        order = [i for i in sorted(range(len(prompts)), key=lambda i: -len(steps[i])) if steps[i]]
        pad = pad_id(self.tokenizer)
        device = next(self.model.parameters()).device
        for start in range(0, len(order), self.config.batch_size):
            chunk = order[start : start + self.config.batch_size]
            encoded = [self.encode(prompts[i], steps[i]) for i in chunk]
            input_ids, attention_mask, step_ids = pad_encoded(encoded, int(pad))
            with torch.inference_mode():
                rewards = self.model.step_rewards(input_ids.to(device), attention_mask.to(device), step_ids.to(device))
            for row, i in enumerate(chunk):
                results[i] = [float(v) for v in rewards[row, : len(steps[i])].cpu()]
        return results

    def score_steps(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per solution: sigmoid of the cumulative step reward at each step (in [0, 1])."""
        return [
            [float(torch.sigmoid(torch.tensor(q, dtype=torch.float64))) for q in _cumulative(row)]
            for row in self.step_rewards(prompts, steps)
        ]

    def score_outcomes(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[float]:
        """Per solution: sigmoid(r(y)), 0.5 for a solution with no steps."""
        return [float(torch.sigmoid(torch.tensor(sum(row), dtype=torch.float64))) for row in self.step_rewards(prompts, steps)]


def _cumulative(values: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out
