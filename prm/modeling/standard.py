"""The standard Hugging Face layout of a reward-model folder, and loads that name their class.

Public: `STEP_LABELS`, `TokenLayout`, `token_layout(config)`, `write_reward_folder(...)`,
`load_reward_parts(directory, reward_config, dtype)`, `read_reward_state(directory)`,
`is_token_classifier_folder(directory)`, `load_checked(auto_class, source, **kwargs)`.

A folder that `prm train` writes (the final model and every `checkpoint-N`) is a token
classifier in TRL's PRM convention: `config.json` names `<Family>ForTokenClassification` with
two labels (0 = bad step, 1 = good step), and the weights hold the backbone under the class's
base-model prefix (`model.*` for Llama, Qwen, Mistral) and the 2-class head (`score.*`), so
`AutoModelForTokenClassification.from_pretrained(folder)` loads it without this package and
softmax(logits)[..., 1] at the last token of each step's tag is the toolkit's step score. The
toolkit's one-logit step head (w . h + b) is stored as the rows [0, w] with biases [0, b]:
softmax([0, z])[1] = sigmoid(z) exactly, and a head fine-tuned elsewhere reads back as the
difference of its rows. No standard class holds a second, sequence-level head beside a token
head, so the outcome head stays in `reward_heads.safetensors` (`outcome_head.*`) next to
`reward_config.json` (step format, objective, trained heads), which marks the folder as the
toolkit's. A backbone family without a token-classification class in transformers keeps the
older layout (the bare backbone, both heads in `reward_heads.safetensors`), and so does a
folder written before this layout; both still load.

`load_checked` is how the toolkit's loaders call `from_pretrained`: a weight the folder lacks
(which transformers would initialise at random with a warning) raises, naming the class loaded
and the class the folder's config names; a folder whose config names another head class loads
with a warning that names both.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

logger = logging.getLogger(__name__)

REWARD_CONFIG_NAME = "reward_config.json"
HEADS_NAME = "reward_heads.safetensors"
STEP_LABELS = {0: "bad_step", 1: "good_step"}
_TOKEN_SUFFIX = "ForTokenClassification"


@dataclass(frozen=True)
class TokenLayout:
    """architecture: the transformers class (e.g. LlamaForTokenClassification); prefix: its
    base-model attribute ("model"); head: its classifier attribute ("score")."""

    architecture: str
    prefix: str
    head: str


def _labelled_config(config: Any) -> Any:
    labelled = copy.deepcopy(config)
    labelled.id2label = dict(STEP_LABELS)
    labelled.label2id = {name: index for index, name in STEP_LABELS.items()}
    return labelled


def _token_shell(config: Any) -> nn.Module | None:
    """An AutoModelForTokenClassification of `config` with 2 labels, on the meta device (no
    memory), or None where transformers has no such class for the family."""
    from transformers import AutoModelForTokenClassification

    try:
        with torch.device("meta"):
            return AutoModelForTokenClassification.from_config(_labelled_config(config))
    except (ValueError, KeyError):
        return None


def token_layout(config: Any) -> TokenLayout | None:
    """The token-classification layout of a backbone config, or None where the family has no
    token-classification class with a biased linear head."""
    shell = _token_shell(config)
    return None if shell is None else _layout_of(shell)


def _layout_of(shell: nn.Module) -> TokenLayout | None:
    heads = [name for name, child in shell.named_children() if isinstance(child, nn.Linear) and child.bias is not None]
    if len(heads) != 1:
        return None
    return TokenLayout(type(shell).__name__, shell.base_model_prefix, heads[0])


def _two_class(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One-logit head weight (1, hidden), bias (1,) -> 2-class weight (2, hidden), bias (2,)."""
    return torch.cat([torch.zeros_like(weight), weight]), torch.cat([torch.zeros_like(bias), bias])


def _one_logit(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `_two_class` for any 2-class head: logit(P(class 1)) = row 1 - row 0."""
    if weight.shape[0] != 2 or bias is None or bias.shape[0] != 2:
        raise ValueError(f"a step head has 2 classes and biases, got weight {tuple(weight.shape)}")
    return (weight[1] - weight[0]).unsqueeze(0), (bias[1] - bias[0]).unsqueeze(0)


def _split_state(state: Mapping[str, torch.Tensor]) -> tuple[dict, dict, dict]:
    """A RewardModel state dict -> (backbone tensors without the `backbone.` prefix, step head
    tensors keyed weight/bias, outcome head tensors keyed as in the state dict)."""
    backbone, step, outcome = {}, {}, {}
    for key, value in state.items():
        if key.startswith("backbone."):
            backbone[key[len("backbone."):]] = value
        elif key.startswith("step_head.linear."):
            step[key[len("step_head.linear."):]] = value
        elif key.startswith("outcome_head."):
            outcome[key] = value
        else:
            raise ValueError(f"{key!r} is not a key of a RewardModel state dict (backbone., step_head., outcome_head.)")
    return backbone, step, outcome


def write_reward_folder(
    directory: str | Path,
    backbone: nn.Module,
    reward_config: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    is_main_process: bool = True,
) -> Path:
    """Write a reward model as a standard folder (see module docstring); returns its path.

    backbone: the Hugging Face base model (its config and class name are recorded).
    state: the RewardModel state dict to write (`backbone.*`, `step_head.*`, `outcome_head.*`),
        as `RewardModel.state_dict()` or a Trainer (which gathers it under FSDP/DeepSpeed) gives.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    backbone_state, step, outcome = _split_state(state)
    shell = _token_shell(backbone.config)
    layout = None if shell is None else _layout_of(shell)
    if is_main_process:
        directory.mkdir(parents=True, exist_ok=True)
    if layout is None:  # the family has no token classifier: the older layout
        logger.warning("transformers has no token-classification class for %s; %s keeps the bare backbone and both "
                       "heads in %s", type(backbone).__name__, directory, HEADS_NAME)
        backbone.save_pretrained(directory, state_dict=backbone_state, is_main_process=is_main_process)
        outcome.update({f"step_head.linear.{k}": v for k, v in step.items()})
    else:
        setattr(shell, layout.prefix, backbone)
        weight, bias = _two_class(step["weight"], step["bias"])
        head = nn.Linear(weight.shape[1], 2, dtype=weight.dtype, device=weight.device)
        head.weight.data, head.bias.data = weight, bias
        setattr(shell, layout.head, head)
        model_state = {f"{layout.prefix}.{k}": v for k, v in backbone_state.items()}
        model_state.update({f"{layout.head}.weight": weight, f"{layout.head}.bias": bias})
        shell.config.architectures = [layout.architecture]
        shell.save_pretrained(directory, state_dict=model_state, is_main_process=is_main_process)
    if is_main_process:
        save_file({k: v.detach().contiguous().cpu() for k, v in outcome.items()}, str(directory / HEADS_NAME))
        (directory / REWARD_CONFIG_NAME).write_text(json.dumps(dict(reward_config), indent=2) + "\n")
    return directory


def _config_json(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def is_token_classifier_folder(directory: str | Path) -> bool:
    """True where the folder's config.json names a *ForTokenClassification class."""
    architectures = _config_json(Path(directory)).get("architectures") or []
    return any(name.endswith(_TOKEN_SUFFIX) for name in architectures)


def load_checked(auto_class: Any, source: str | Path, **kwargs: Any) -> Any:
    """`auto_class.from_pretrained(source, **kwargs)` that never leaves a weight at random.

    A weight the folder lacks, or holds in another shape, raises a ValueError naming the class
    loaded, the class the folder's config names and the weights. Loading a folder whose config
    names a different head class (a token classifier as a causal LM, say) warns with both
    names: its own head is dropped.
    """
    model, info = auto_class.from_pretrained(str(source), output_loading_info=True, **kwargs)
    loaded = type(model).__name__
    named = list(getattr(model.config, "architectures", None) or [])
    missing = [k if isinstance(k, str) else k[0] for k in (info.get("missing_keys") or [])]
    missing += [k if isinstance(k, str) else k[0] for k in (info.get("mismatched_keys") or [])]
    hint = ""
    if (Path(str(source)) / REWARD_CONFIG_NAME).is_file():
        hint = ("; it is a reward model written by `prm train`: load it with prm.modeling.load_reward_model "
                "(--prm-kind toolkit) or AutoModelForTokenClassification")
    if missing:
        raise ValueError(
            f"{source} holds a {' / '.join(named) or 'model of unknown class'}; loading it as {loaded} would leave "
            f"{len(missing)} weight(s) randomly initialised ({', '.join(sorted(missing)[:4])}){hint}"
        )
    if named and loaded not in named:
        logger.warning("%s names %s in its config.json and was loaded as %s: its own head is not used%s",
                       source, ", ".join(named), loaded, hint)
    return model


def load_reward_parts(
    directory: str | Path, dtype: torch.dtype | None = None
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """(backbone, head tensors keyed `step_head.linear.*` / `outcome_head.*`) of a standard or
    older-layout reward-model folder (see module docstring)."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoModelForTokenClassification

    directory = Path(directory)
    kwargs = {} if dtype is None else {"dtype": dtype}
    heads = load_file(str(directory / HEADS_NAME))
    if not is_token_classifier_folder(directory):
        return load_checked(AutoModel, directory, **kwargs), heads
    classifier = load_checked(AutoModelForTokenClassification, directory, **kwargs)
    layout = _layout_of(classifier)
    if layout is None:
        raise ValueError(f"{directory}: {type(classifier).__name__} has no single linear head with biases to read")
    head = getattr(classifier, layout.head)
    weight, bias = _one_logit(head.weight.detach().float(), head.bias.detach().float())
    heads.update({"step_head.linear.weight": weight, "step_head.linear.bias": bias})
    return getattr(classifier, layout.prefix), heads


def read_reward_state(directory: str | Path) -> dict[str, torch.Tensor]:
    """The RewardModel state dict held by a standard folder (what resuming a checkpoint loads)."""
    from safetensors.torch import load_file

    from prm.modeling.adapters import read_prefixed_weights

    directory = Path(directory)
    if not is_token_classifier_folder(directory):
        raise ValueError(f"{directory} is not a token-classification reward-model folder")
    from transformers import AutoConfig

    layout = token_layout(AutoConfig.from_pretrained(str(directory)))
    if layout is None:
        raise ValueError(f"{directory}: transformers has no token-classification class for its config")
    tensors = read_prefixed_weights(directory, "")
    state = {f"backbone.{k[len(layout.prefix) + 1:]}": v for k, v in tensors.items() if k.startswith(f"{layout.prefix}.")}
    weight, bias = _one_logit(tensors[f"{layout.head}.weight"], tensors[f"{layout.head}.bias"])
    state.update({"step_head.linear.weight": weight, "step_head.linear.bias": bias})
    state.update(load_file(str(directory / HEADS_NAME)))
    return state
