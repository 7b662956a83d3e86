"""Supervised fine-tuning of a policy on (prompt, reference solution) pairs.

Public: `SFTConfig`, `reference_steps`, `sft_examples`, `finetune_policy`.

The demo warms the embedded SmolLM2-135M up on the synthetic task's reference solutions before
sampling from it (untrained, it gets ~5% of one-step sums right). This goes through the same
`transformers.Trainer` machinery as reward-model training; the loss covers the solution tokens
only, never the prompt's. Prompts come from `prm.engines.prompts` with the template that
sampling will use, and are tokenized as the engines tokenize them, so the policy is fine-tuned on
exactly the text it later continues. GSM8K's reference solutions are re-cut into one step per
line with a boxed final answer (`prm.data.gsm8k.solution_steps`); other sources are split with
the step format as they are. `prm sft` (`prm.cli.sft`) runs this from the command line and measures held-out accuracy
before and after (sampling is labeling's, so it lives in the CLI wing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from prm.engines.prompts import encode_prompt, policy_prompt
from prm.records import Problem
from prm.steps import StepFormat


@dataclass(frozen=True)
class SFTConfig:
    """Policy fine-tuning options; defaults suit a 135M model on a 2-core CPU.

    extra_args: any other `transformers.TrainingArguments` field by name (they win over the
    defaults here, e.g. lr_scheduler_type, max_grad_norm, use_cpu; an unknown name raises when
    training starts)."""

    epochs: float = 1.0
    learning_rate: float = 1e-4
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0
    logging_steps: int = 10
    extra_args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_length", "logging_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SFTConfig.{name} must be a positive int, got {value!r}")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise ValueError(
                f"SFTConfig.epochs and learning_rate must be > 0, got {self.epochs!r}, {self.learning_rate!r}"
            )


def reference_steps(problem: Problem, step_format: StepFormat) -> list[str]:
    """The steps of the problem's reference solution, as the policy should write them."""
    if not problem.reference_solution:
        raise ValueError(
            f"problem {problem.id!r} has no reference_solution (fine-tuning and perturbation labels need one)"
        )
    if problem.source == "gsm8k":
        from prm.data.gsm8k import solution_steps

        return solution_steps(problem.reference_solution, problem.answer)
    return step_format.split(problem.reference_solution, drop_empty=True)


def sft_examples(
    tokenizer: Any,
    problems: Sequence[Problem],
    template: str,
    step_format: StepFormat,
    max_length: int = 256,
) -> list[dict[str, list[int]]]:
    """Tokenized rows: input_ids and labels (-100 over the prompt), cut to max_length.

    template: the resolved policy template (`prm.engines.prompts.resolve_template`).
    The prompt is tokenized with the tokenizer's special tokens, as the engines do; the
    reference solution is re-joined with the step format's delimiter and ends with EOS so that
    the policy learns to stop. Problems without a reference solution raise.
    """
    rows = []
    for problem in problems:
        solution = step_format.join(reference_steps(problem, step_format))
        prompt = policy_prompt(problem.question, template)
        prompt_ids = encode_prompt(tokenizer, prompt, add_special_tokens=True)
        solution_ids = tokenizer.encode(solution, add_special_tokens=False)
        if tokenizer.eos_token_id is not None:
            solution_ids.append(tokenizer.eos_token_id)
        input_ids = (prompt_ids + solution_ids)[:max_length]
        labels = ([-100] * len(prompt_ids) + solution_ids)[:max_length]
        rows.append({"input_ids": input_ids, "labels": labels})
    return rows


class _PadCollator:
    """Right-pads input_ids (pad_id) and labels (-100, ignored by the loss) to the longest row."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        from prm.modeling.batching import pad_batch

        ids, mask, _ = pad_batch([r["input_ids"] for r in rows], self.pad_id, "right")
        labels, _, _ = pad_batch([r["labels"] for r in rows], -100, "right")
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def finetune_policy(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    output_dir: str,
    config: SFTConfig,
    template: str,
    step_format: StepFormat,
    callbacks: Sequence[Any] = (),
) -> dict[str, float]:
    """Fine-tune `model` in place on the problems' reference solutions; returns train metrics."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    rows = sft_examples(tokenizer, problems, template, step_format, config.max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    defaults = dict(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, int(0.05 * len(rows) / config.batch_size)),
        logging_steps=config.logging_steps,
        save_strategy="no",
        report_to=[],
        seed=config.seed,
        use_cpu=not _cuda_available(),
        dataloader_num_workers=0,
        disable_tqdm=False,
        train_sampling_strategy="group_by_length",
    )
    args = TrainingArguments(**{**defaults, **config.extra_args})
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=_PadCollator(pad_id),
        callbacks=list(callbacks),
    )
    result = trainer.train()
    model.eval()
    return dict(result.metrics)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
