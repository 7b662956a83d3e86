"""Adapters that score steps with public PRMs exactly as their authors' example code does.

Public: `AdapterPRM`, `LabelTokenPRM`, `LabelTokenConfig`, `ClassificationHeadPRM`,
`ClassificationHeadConfig`, `StepClassifierModel`, `single_token_id`, `label_token_ids`,
`label_token_text`, `encode_label_token`, `read_prefixed_weights`. RLHFlow and Skywork PRMs:
`prm.modeling.rlhflow`, `prm.modeling.skywork`.

Every adapter is an `AdapterPRM`: a `prm.scores.StepScorer` that takes a loaded Hugging Face
model and tokenizer, offers `from_pretrained(path)` for a local folder, and scores solutions
in length-sorted batches; each one says how it encodes a solution and what it reads.

* `LabelTokenPRM` (Math-Shepherd, `peiyi9979/math-shepherd-mistral-7b-prm`): a causal LM read
  at a step tag. Input text is `question + " " + "\\n".join(step + " ки")`; a step's score is
  the softmax over the logits of the good and bad label tokens ('+' and '-') at the tag's
  position, P('+').
* `ClassificationHeadPRM` (Qwen2.5-Math-PRM-7B/72B): a decoder with a 2-class token head. The
  input is the chat template over system / user (question) / assistant, where the assistant
  turn is the steps joined by `<extra_0>` with one more `<extra_0>` after the last step; a
  step's score is softmax(logits at that `<extra_0>`)[1].

Every token id (tags, label tokens) is looked up from the tokenizer, never hard-coded. Tag
positions are found on the token ids of the tokenized input (as the model cards do), and the
number found must equal the number of steps, so a tag that merges with its neighbours under
the tokenizer raises instead of silently scoring the wrong tokens. Solutions are scored in
batches, one forward pass per solution, with explicit position ids so that left and right
padding give the same scores.

transformers has no class for Qwen's `Qwen2ForProcessRewardModel` (it ships as remote code in
the model folder); `StepClassifierModel` is the same architecture built by composition
(`AutoModel` backbone + Linear-ReLU-Linear head) and reads/writes that folder layout.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from prm.modeling.batching import pad_batch
from prm.modeling.heads import position_ids_from_mask

MATH_SHEPHERD_TAG = "ки"
QWEN_STEP_TOKEN = "<extra_0>"
QWEN_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


def single_token_id(tokenizer: Any, text: str, role: str) -> int:
    """The id of `text` when the tokenizer maps it to exactly one token, else a ValueError.

    role names what the token is for (e.g. "step tag") so the error says which option to fix.
    """
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    if len(ids) == 1:
        return int(ids[0])
    raise ValueError(
        f"the {role} {text!r} maps to {len(ids)} tokens {ids} under this tokenizer, not one; "
        "use the tokenizer the PRM was trained with, add the token to it, or choose a "
        f"{role} that is a single vocabulary entry"
    )


def read_prefixed_weights(folder: Path, prefix: str, required: str | None = None) -> dict[str, "torch.Tensor"]:
    """The tensors of a folder's safetensors file(s) whose keys start with `prefix`, keyed
    without it (a head stored beside the backbone's weights). required: what the folder is
    not when it holds none (a ValueError then says so); None: an empty dict."""
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    shards = (
        sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    )
    found: dict[str, torch.Tensor] = {}
    for shard in shards:
        with safe_open(str(folder / shard), framework="pt") as handle:
            for key in handle.keys():
                if key.startswith(prefix):
                    found[key[len(prefix):]] = handle.get_tensor(key)
    if not found and required is not None:
        raise ValueError(f"{folder} holds no `{prefix}*` head weights; it is not {required}")
    return found


def label_token_ids(tokenizer: Any, config: Any) -> tuple[int, int]:
    """(good id, bad id) of a config's `good_token` and `bad_token`, each one token."""
    return (single_token_id(tokenizer, config.good_token, "good label token"),
            single_token_id(tokenizer, config.bad_token, "bad label token"))


def _check_batch_size(owner: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}.batch_size must be a positive int, got {value!r}")


def _check_text(owner: str, name: str, value: Any, allow_empty: bool = False) -> None:
    if not isinstance(value, str) or (not value and not allow_empty):
        kind = "a str" if allow_empty else "a non-empty str"
        raise ValueError(f"{owner}.{name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class LabelTokenConfig:
    """How a label-token PRM reads its input (defaults: Math-Shepherd's model card).

    good_token / bad_token: the label tokens compared at each tag; score = P(good).
    tag: ends every step; the label is read at its (single) token.
    question_separator: between the question and the first step.
    step_separator: between one step's tag and the next step.
    batch_size: solutions per forward pass.
    """

    good_token: str = "+"
    bad_token: str = "-"
    tag: str = MATH_SHEPHERD_TAG
    question_separator: str = " "
    step_separator: str = "\n"
    batch_size: int = 8

    def __post_init__(self) -> None:
        for name in ("good_token", "bad_token", "tag"):
            _check_text("LabelTokenConfig", name, getattr(self, name))
        for name in ("question_separator", "step_separator"):
            _check_text("LabelTokenConfig", name, getattr(self, name), allow_empty=True)
        if self.good_token == self.bad_token:
            raise ValueError(
                f"LabelTokenConfig.good_token and bad_token must differ, both are {self.good_token!r}"
            )
        _check_batch_size("LabelTokenConfig", self.batch_size)


@dataclass(frozen=True)
class ClassificationHeadConfig:
    """How a classification-head PRM reads its input (defaults: Qwen2.5-Math-PRM's card).

    step_token: placed after every step in the assistant turn; the head is read there.
    system_prompt: the system turn; None leaves it out.
    positive_index: which of the head's classes means "step is correct".
    batch_size: solutions per forward pass.
    """

    step_token: str = QWEN_STEP_TOKEN
    system_prompt: str | None = QWEN_SYSTEM_PROMPT
    positive_index: int = 1
    batch_size: int = 8

    def __post_init__(self) -> None:
        _check_text("ClassificationHeadConfig", "step_token", self.step_token)
        if self.system_prompt is not None:
            _check_text("ClassificationHeadConfig", "system_prompt", self.system_prompt)
        if self.positive_index not in (0, 1):
            raise ValueError(
                f"ClassificationHeadConfig.positive_index must be 0 or 1, got {self.positive_index!r}"
            )
        _check_batch_size("ClassificationHeadConfig", self.batch_size)


# ------------------------------------------------------------------------ shared machinery
def _tag_positions(input_ids: Sequence[int], tag_id: int, expected: int, index: int) -> list[int]:
    positions = [i for i, token in enumerate(input_ids) if token == tag_id]
    if len(positions) != expected:
        raise ValueError(
            f"solution {index}: found {len(positions)} step-tag tokens (id {tag_id}) for "
            f"{expected} steps; the tag merged with neighbouring text under this tokenizer "
            "or the prompt contains it; use a tag that is a single added/special token"
        )
    return positions


def _pad_id(tokenizer: Any) -> int:
    # Padded positions are masked out, so any id serves where the tokenizer names none.
    candidates = (tokenizer.pad_token_id, tokenizer.eos_token_id, 0)
    return int(next(c for c in candidates if c is not None))


def _model_device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def _forward(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> Any:
    """model(...) on the model's device, without autograd; input_ids, masks: (batch, seq)."""
    device = _model_device(model)
    with torch.inference_mode():
        return model(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), position_ids=position_ids.to(device),
        )


def _at_positions(values: torch.Tensor, positions: list[list[int]]) -> list[list[float]]:
    """values: (batch, seq) -> each row's values at its positions."""
    values = values.cpu()
    return [[float(values[row, p]) for p in row_positions] for row, row_positions in enumerate(positions)]


def _require_chat_template(tokenizer: Any, kind: str) -> None:
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            f"the tokenizer has no chat template; {kind} reads a chat (load the tokenizer from the PRM's own folder)"
        )


def _score_in_batches(
    encoded: Sequence[tuple[list[int], list[int]]],
    batch_size: int,
    pad_id: int,
    padding_side: str,
    read_scores: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, list[list[int]]], list[list[float]]],
) -> list[list[float]]:
    """Scores for each (input_ids, tag_positions) pair, batching similar lengths together.

    read_scores(input_ids, attention_mask, position_ids, positions) -> scores per row, with
    positions already shifted into the padded rows.
    """
    results: list[list[float]] = [[] for _ in encoded]
    order = sorted((i for i, (_, pos) in enumerate(encoded) if pos), key=lambda i: -len(encoded[i][0]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, attention_mask, offsets = pad_batch([encoded[i][0] for i in chunk], pad_id, padding_side)
        position_ids = position_ids_from_mask(attention_mask)
        positions = [[offset + p for p in encoded[i][1]] for i, offset in zip(chunk, offsets)]
        for i, scores in zip(chunk, read_scores(input_ids, attention_mask, position_ids, positions)):
            results[i] = scores
    return results


class AdapterPRM:
    """What every public-PRM adapter shares: the model (in eval mode), its tokenizer and a
    config (`config_class()` when none is given); `from_pretrained` loads the model
    (`load_model`) and the tokenizer from one folder; `score_steps` checks the solutions,
    encodes each one (`encode(prompt, steps, index)`) and reads their scores in length-sorted
    batches (`_read_scores`), one score in [0, 1] per step."""

    config_class: type

    def __init__(self, model: nn.Module, tokenizer: Any, config: Any = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config or self.config_class()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, config: Any = None, **model_kwargs: Any):
        """Load the model and its tokenizer from a folder (or hub name where allowed)."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
        return cls(cls.load_model(name_or_path, **model_kwargs), tokenizer, config)

    @classmethod
    def load_model(cls, name_or_path: str | Path, **model_kwargs: Any) -> nn.Module:
        """The folder's causal LM (adapters of other model classes override this); a folder that
        holds another head fails by name (`prm.modeling.standard.load_checked`)."""
        from transformers import AutoModelForCausalLM

        from prm.modeling.standard import load_checked

        return load_checked(AutoModelForCausalLM, name_or_path, **model_kwargs)

    def score_steps(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per solution: one score per step (what each adapter reads: its class docstring)."""
        if len(prompts) != len(steps):
            raise ValueError(f"{len(prompts)} prompts but {len(steps)} step lists; give one per solution")
        for index, solution in enumerate(steps):
            if isinstance(solution, str):
                raise ValueError(f"steps[{index}] is a str; give a list of step strings per solution")
        encoded = [
            self.encode(prompt, solution, i) if solution else ([], [])
            for i, (prompt, solution) in enumerate(zip(prompts, steps))
        ]
        return _score_in_batches(
            encoded, self.config.batch_size, _pad_id(self.tokenizer),
            getattr(self.tokenizer, "padding_side", "right"), self._read_scores,
        )

    def _read_scores(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
        positions: list[list[int]],
    ) -> list[list[float]]:
        """input_ids, attention_mask, position_ids: (batch, seq) -> each row's scores at its
        positions: `step_values` of one forward pass without autograd."""
        return _at_positions(self.step_values(_forward(self.model, input_ids, attention_mask, position_ids)), positions)

    def step_values(self, output: Any) -> torch.Tensor:
        """The model's output -> a score in [0, 1] at every token, (batch, seq)."""
        raise NotImplementedError


# ------------------------------------------------------------------------ label-token PRMs
def label_token_text(config: LabelTokenConfig, prompt: str, steps: Sequence[str]) -> str:
    """A label-token PRM's input string: prompt, question_separator, then the steps each
    followed by " " + tag and joined by step_separator; tag text inside a step is removed."""
    tag = config.tag
    tagged = [f"{step.replace(tag, '').rstrip()} {tag}" for step in steps]
    return prompt + config.question_separator + config.step_separator.join(tagged)


def encode_label_token(
    tokenizer: Any, config: LabelTokenConfig, prompt: str, steps: Sequence[str], index: int = 0,
    tag_id: int | None = None,
) -> tuple[list[int], list[int]]:
    """(input_ids, tag positions) of one solution, as `LabelTokenPRM` reads it (and as
    `prm.training.label_token` trains it); the tokenizer adds BOS as in the card."""
    if tag_id is None:
        tag_id = single_token_id(tokenizer, config.tag, "step tag")
    input_ids = list(tokenizer.encode(label_token_text(config, prompt, steps), add_special_tokens=True))
    return input_ids, _tag_positions(input_ids, tag_id, len(steps), index)


class LabelTokenPRM(AdapterPRM):
    """Math-Shepherd-style PRM: P(good token) vs P(bad token) from a causal LM at each tag;
    `score_steps` gives P(good) at each step's tag, one value per step."""

    config_class = LabelTokenConfig

    def __init__(self, model: nn.Module, tokenizer: Any, config: LabelTokenConfig | None = None):
        super().__init__(model, tokenizer, config)
        self.good_id, self.bad_id = label_token_ids(tokenizer, self.config)
        self.tag_id = single_token_id(tokenizer, self.config.tag, "step tag")
        forward = inspect.signature(model.forward).parameters
        self._keeps_logits = "logits_to_keep" in forward

    def build_text(self, prompt: str, steps: Sequence[str]) -> str:
        """The model card's input string; any tag text inside a step is removed first."""
        return label_token_text(self.config, prompt, steps)

    def encode(self, prompt: str, steps: Sequence[str], index: int = 0) -> tuple[list[int], list[int]]:
        """(input_ids, tag positions) of one solution; the tokenizer adds BOS as in the card."""
        return encode_label_token(self.tokenizer, self.config, prompt, steps, index, self.tag_id)

    def _read_scores(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
        positions: list[list[int]],
    ) -> list[list[float]]:
        """input_ids, attention_mask, position_ids: (batch, seq). Logits are only computed at
        tag positions where the model allows it (`logits_to_keep`), saving (batch, seq, vocab)."""
        device = _model_device(self.model)
        kept = sorted({p for row in positions for p in row})
        kwargs: dict[str, Any] = {}
        column = {p: (i if self._keeps_logits else p) for i, p in enumerate(kept)}
        if self._keeps_logits:
            kwargs["logits_to_keep"] = torch.tensor(kept, dtype=torch.long, device=device)
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                position_ids=position_ids.to(device), **kwargs,
            ).logits  # (batch, kept or seq, vocab)
            pair = logits[..., [self.good_id, self.bad_id]].float()  # (batch, kept or seq, 2)
            good = pair.softmax(dim=-1)[..., 0].cpu()
        return [[float(good[row, column[p]]) for p in row_positions] for row, row_positions in enumerate(positions)]


# --------------------------------------------------------------- classification-head PRMs
class StepClassifierModel(nn.Module):
    """A decoder backbone plus a per-token 2-class head: Qwen2ForProcessRewardModel's shape.

    The head is Linear(hidden, hidden) -> ReLU -> Linear(hidden, num_labels), stored under
    `score.0` / `score.2` next to the backbone's `model.*` weights, as in Qwen's folders.
    forward(...) returns a 1-tuple (logits,) with logits: (batch, seq, num_labels).
    """

    def __init__(self, backbone: nn.Module, num_labels: int = 2):
        super().__init__()
        hidden = backbone.config.hidden_size
        self.model = backbone
        self.config = backbone.config
        self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_labels))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor]:
        hidden = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).last_hidden_state  # (batch, seq, hidden)
        return (self.score(hidden),)

    def save_pretrained(self, path: str | Path) -> None:
        """Write config.json (architectures named as Qwen's folders name them, e.g.
        Qwen2ForProcessRewardModel) and model.safetensors with `model.*` and `score.*` keys."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        family = type(self.model).__name__.removesuffix("Model")
        self.config.architectures = [f"{family}ForProcessRewardModel"]
        self.config.save_pretrained(folder)
        state = {f"model.{k}": v.contiguous() for k, v in self.model.state_dict().items()}
        state.update({f"score.{k}": v.contiguous() for k, v in self.score.state_dict().items()})
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, path: str | Path, **model_kwargs: Any) -> "StepClassifierModel":
        """Backbone through `AutoModel` (it drops the `model.` prefix), head from the shards."""
        from transformers import AutoModel

        folder = Path(path)
        backbone = AutoModel.from_pretrained(str(folder), **model_kwargs)
        head = read_prefixed_weights(
            folder, "score.", required="a classification-head PRM folder (for a label-token PRM use LabelTokenPRM)"
        )
        if set(head) == {"weight", "bias"}:
            named = json.loads((folder / "config.json").read_text()).get("architectures") or ["a token classifier"]
            raise ValueError(
                f"{folder} holds a {', '.join(named)} (one linear `score` layer), not Qwen's two-layer "
                "process-reward head; a folder written by `prm train` loads with --prm-kind toolkit "
                "(prm.modeling.load_reward_model) or AutoModelForTokenClassification"
            )
        num_labels = head[max(k for k in head if k.endswith(".weight"))].shape[0]
        model = cls(backbone, num_labels=num_labels)
        dtype = next(backbone.parameters()).dtype
        model.score.load_state_dict(head)
        return model.to(dtype)


class ClassificationHeadPRM(AdapterPRM):
    """Qwen2.5-Math-PRM-style PRM: 2-class token head read at a step token in a chat turn;
    `score_steps` gives softmax(head logits)[positive_index] at each step token."""

    config_class = ClassificationHeadConfig

    def __init__(self, model: nn.Module, tokenizer: Any, config: ClassificationHeadConfig | None = None):
        super().__init__(model, tokenizer, config)
        self.step_id = single_token_id(tokenizer, self.config.step_token, "step token")
        _require_chat_template(tokenizer, "a classification-head PRM")

    @classmethod
    def load_model(cls, name_or_path: str | Path, trust_remote_code: bool = False, **model_kwargs: Any) -> nn.Module:
        """With trust_remote_code the folder's own model code runs (the card's way); without,
        the same architecture is built by `StepClassifierModel`."""
        if trust_remote_code:
            from transformers import AutoModel

            return AutoModel.from_pretrained(str(name_or_path), trust_remote_code=True, **model_kwargs)
        return StepClassifierModel.from_pretrained(name_or_path, **model_kwargs)

    def build_text(self, prompt: str, steps: Sequence[str]) -> str:
        """The chat-templated input of the model card; step-token text inside steps is removed."""
        marker = self.config.step_token
        answer = marker.join(step.replace(marker, "") for step in steps) + marker
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        if self.config.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    def encode(self, prompt: str, steps: Sequence[str], index: int = 0) -> tuple[list[int], list[int]]:
        """(input_ids, step-token positions) of one solution."""
        input_ids = list(self.tokenizer.encode(self.build_text(prompt, steps)))
        return input_ids, _tag_positions(input_ids, self.step_id, len(steps), index)

    def step_values(self, output: Any) -> torch.Tensor:
        """Head logits (batch, seq, 2) -> softmax(...)[positive_index]."""
        logits = output[0] if isinstance(output, (tuple, list)) else output.logits
        if logits.shape[-1] != 2:
            raise ValueError(
                f"the model's head gives {logits.shape[-1]} classes per token, expected 2; "
                "this is not a 2-class classification-head PRM"
            )
        return logits.float().softmax(dim=-1)[..., self.config.positive_index]
