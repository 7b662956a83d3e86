"""What the final folder of a training run says about itself, and what it keeps beside it.

Public: `file_sha256(path)`, `model_card(...)`, `run_card(config, folder, metrics)`,
`write_run_record(folder, ...)`.

`write_run_record` writes `README.md` (a Hugging Face model card: YAML front matter with the
base model, library and tags, then the base model, the data files with their sha256, the
objective, the step format and how to score with plain transformers, the hyperparameters and the
final metrics) and `training_args.json` (every `TrainingArguments` field, tokens masked, as
`TrainingArguments.to_dict` gives them). `remove_checkpoints` deletes the `checkpoint-N`
folders of a run (`save_total_limit=0`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from prm.modeling.standard import is_token_classifier_folder
from prm.steps import StepFormat


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_table(files: Sequence[str]) -> list[str]:
    rows = []
    for name in files:
        path = Path(name)
        digest = file_sha256(path) if path.is_file() else "(not a local file)"
        rows.append(f"| `{name}` | `{digest}` |")
    return rows


def _value(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return json.dumps(value) if not isinstance(value, str) else value


def model_card(
    *,
    base_model: str | None,
    objective: str,
    heads: Sequence[str],
    step_format: StepFormat,
    architecture: str | None,
    data_files: Sequence[str],
    eval_data_files: Sequence[str],
    hyperparameters: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> str:
    """The README.md text (see module docstring)."""
    front = ["---", "library_name: transformers", "tags:", "- prm-toolkit", "- process-reward-model"]
    if base_model:
        front.append(f"base_model: {json.dumps(base_model)}")
    front.append("---")
    tag = json.dumps(step_format.tag)
    lines = [
        *front, "",
        f"# Reward model ({objective})", "",
        f"Trained with prm-toolkit (`prm train --objective {objective}`) from base model "
        f"`{base_model or 'unknown'}`; heads trained: {', '.join(heads) or 'none'}.", "",
        "## Data", "",
        "| file | sha256 |", "|---|---|",
        *_files_table(data_files),
    ]
    if eval_data_files:
        lines += ["", "Evaluation files:", "", "| file | sha256 |", "|---|---|", *_files_table(eval_data_files)]
    lines += [
        "", "## Step format", "",
        f"Input: the prompt, then {json.dumps(step_format.prompt_suffix)}, then each step tokenized on its own "
        f"followed by the step tag {tag}; a step's score is read at the last token of its tag. "
        f"Steps in solution text are separated by {json.dumps(step_format.delimiter)}.", "",
    ]
    if architecture:
        lines += [
            f"The folder is a `{architecture}` with two labels (0 = bad step, 1 = good step), as TRL's "
            "`PRMTrainer` trains them: softmax(logits)[..., 1] at each tag is the step score.", "",
            "```python",
            "from transformers import AutoModelForTokenClassification, AutoTokenizer",
            "model = AutoModelForTokenClassification.from_pretrained(FOLDER)",
            "tokenizer = AutoTokenizer.from_pretrained(FOLDER)",
            f"tag = tokenizer.encode({tag}, add_special_tokens=False)",
            f"ids = tokenizer.encode(prompt + {json.dumps(step_format.prompt_suffix)})",
            "for step in steps:",
            "    ids += tokenizer.encode(step, add_special_tokens=False) + tag",
            "probabilities = model(input_ids=torch.tensor([ids])).logits.softmax(-1)[0, :, 1]",
            "# read probabilities at the last token of each tag",
            "```", "",
        ]
    lines += [
        "The outcome head (P(final answer correct), read at the last token) is in "
        "`reward_heads.safetensors`; `prm.modeling.load_reward_model(FOLDER)` restores both heads.", "",
        "## Hyperparameters", "", "| name | value |", "|---|---|",
        *(f"| {k} | {_value(v)} |" for k, v in hyperparameters.items()),
        "", "## Final metrics", "", "| metric | value |", "|---|---|",
        *(f"| {k} | {_value(v)} |" for k, v in sorted(metrics.items())),
        "",
    ]
    return "\n".join(lines)


def write_run_record(folder: str | Path, training_args: Any, card: str) -> None:
    """README.md (`card`) and training_args.json (`training_args.to_dict()`) in `folder`."""
    folder = Path(folder)
    (folder / "README.md").write_text(card, encoding="utf-8")
    arguments = training_args.to_dict()
    (folder / "training_args.json").write_text(json.dumps(arguments, indent=2, sort_keys=True, default=str) + "\n")


def run_card(config: Any, folder: Path, metrics: Mapping[str, Any]) -> str:
    """The card of a run of `config` (a `prm.training.TrainConfig`) whose model is in `folder`."""
    architectures = json.loads((folder / "config.json").read_text()).get("architectures") or [None]
    hyperparameters = {k: v for k, v in asdict(config).items()
                       if k not in ("output_dir", "objective", "step_format", "data_files", "eval_data_files",
                                    "base_model", "extra_args", "show_progress")}
    hyperparameters.update(objective_weights=[config.objective.step_weight, config.objective.outcome_weight],
                           **dict(config.extra_args))
    return model_card(
        base_model=config.base_model, objective=config.objective.name, heads=config.objective.heads,
        step_format=config.step_format,
        architecture=architectures[0] if is_token_classifier_folder(folder) else None,
        data_files=config.data_files, eval_data_files=config.eval_data_files,
        hyperparameters=hyperparameters,
        metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
    )

