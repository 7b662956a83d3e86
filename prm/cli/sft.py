"""`prm sft`: warm a policy up on reference solutions before sampling, labeling or search.

Public: `add_arguments(parser)`, `run(args) -> int`, `sample_accuracy(engine, problems, template)`.

Fine-tunes a causal LM (default: the embedded SmolLM2-135M) on the problems' reference
solutions with the prompt template that `prm label` and `prm search` will use (`prm.sft`), then
saves the model and tokenizer to --out with `sft.json` (options, loss, seconds). With
--eval-problems it also samples one solution per held-out problem before and after (with
--engine: the model in memory, or vLLM on the backbone and then on the saved folder), so the
gain is measured on problems the policy did not train on. TrainingArguments fields keep their
names (`--learning-rate`, `--lr-scheduler-type`, `--max-grad-norm`, ...); the policy keeps no
checkpoints and is measured by sampling, so `--save-steps` and `--eval-steps` do not apply.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from prm.atomic import atomic_write
from prm.cli import options, wiring
from prm.errors import OptionError
from prm.records import Problem
from prm.steps import STEP_FORMATS, StepFormat, step_format_named

log = logging.getLogger("prm.sft")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from prm.cli.train import TRAINING_ALIASES, add_training_arguments

    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True,
                      help=f"problems with reference solutions: {', '.join(wiring.PROBLEM_NAMES)}, or {wiring.DATA_HELP}")
    data.add_argument("--data-root", default="../shared/data", help="folder holding gsm8k/ and math/")
    data.add_argument("--limit", type=int, default=None, help="first N problems only")
    data.add_argument("--eval-data", default=None, help="held-out problems to measure accuracy on (same choices)")
    data.add_argument("--eval-problems", type=int, default=0, help="held-out problems sampled before/after (0: none)")
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", dest="model", default="embedded",
                       help="what fine-tuning starts from: a causal LM name or folder, or 'embedded'")
    model.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=None,
                       help="wrap the prompt template in the model's chat template (default: where it has one)")
    model.add_argument("--step-format", default="default", choices=STEP_FORMATS,
                       help="how the reference solutions are split and joined for the policy")
    model.add_argument("--prompt-template", default=None,
                       help="policy prompt with {question} (default: prm.engines.prompts.DEFAULT_TEMPLATE)")
    run = parser.add_argument_group("run (TrainingArguments fields keep their transformers names)")
    run.add_argument("--out", required=True, help="folder for the fine-tuned model")
    add_training_arguments(run, learning_rate=1e-4, batch_size=8, lr_scheduler_type="cosine")
    run.add_argument("--max-length", type=int, default=256, help="tokens per example (prompt + solution)")
    options.add_compute(run)
    held_out = parser.add_argument_group("held-out sampling (--eval-problems)")
    held_out.add_argument("--max-new-tokens", type=int, default=256, help="per held-out sample")
    options.add_engine(held_out, batch_size=64)
    for old, new in (("--model", "--backbone"), *TRAINING_ALIASES):
        options.deprecate(parser, old, new)


def _sft_config(args: argparse.Namespace) -> Any:
    from prm.cli.train import passed_through, warmup
    from prm.sft import SFTConfig

    extra = {**passed_through(args), "lr_scheduler_type": args.lr_scheduler_type, "max_steps": args.max_steps,
             "weight_decay": args.weight_decay, "gradient_accumulation_steps": args.grad_accum,
             "use_cpu": args.device == "cpu"}
    if args.warmup_steps or args.warmup_ratio is not None:
        extra["warmup_steps"] = warmup(args)
    return SFTConfig(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                     seed=args.seed, logging_steps=args.logging_steps, extra_args=extra)


def _engine(args: argparse.Namespace, model: Any, tokenizer: Any, folder: str) -> Any:
    """The held-out sampler: the model in memory (transformers), or vLLM on `folder`."""
    if args.engine == "vllm":
        return wiring.build_engine("vllm", folder, dtype=args.dtype, seed=args.seed, vllm_memory=args.vllm_memory,
                                   vllm_max_len=args.vllm_max_len)[0]
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig

    return TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=args.engine_batch_size))


def run(args: argparse.Namespace) -> int:
    from prm.engines.prompts import DEFAULT_TEMPLATE, resolve_template
    from prm.modeling.loading import load_causal_lm
    from prm.sft import finetune_policy

    out = Path(args.out)
    step_format = step_format_named(args.step_format)
    config = _sft_config(args)
    problems = wiring.load_problems(args.data, args.data_root, args.limit, None, args.seed)
    if args.data in ("gsm8k", "math500"):
        log.warning("fine-tuning on the %s TEST split; use gsm8k-train / math-train unless that is intended", args.data)
    held_out = []
    if args.eval_problems > 0:
        if args.eval_data is None:
            raise OptionError("--eval-problems", "needs --eval-data", "name problems the policy does not train on")
        held_out = wiring.load_problems(args.eval_data, args.data_root, args.eval_problems, None, args.seed + 1)
        overlap = {p.question for p in problems} & {p.question for p in held_out}
        if overlap:
            raise ValueError(f"{len(overlap)} --eval-data questions are also training questions; hold out other problems")
    with wiring.phase(f"loading backbone {args.model} on {args.device}"):
        model, tokenizer = load_causal_lm(args.model, device=args.device)
    template = resolve_template(tokenizer, args.prompt_template or DEFAULT_TEMPLATE, args.chat_template)
    report = {"data": args.data, "problems": len(problems), "model": args.model, "eval_data": args.eval_data,
              "template": template, "config": dataclasses.asdict(config)}
    if held_out:
        engine = _engine(args, model, tokenizer, args.model)
        report["accuracy_before"] = sample_accuracy(engine, held_out, template, step_format, args.max_new_tokens)
        log.info("held-out accuracy before: %.1f%% of %d", 100 * report["accuracy_before"], len(held_out))
        del engine
    log.info("fine-tuning %s on %d reference solutions from %s", args.model, len(problems), args.data)
    started = time.perf_counter()
    model.train()
    metrics = finetune_policy(model, tokenizer, problems, str(out / "checkpoints"), config, template, step_format)
    with contextlib.suppress(OSError):
        (out / "checkpoints").rmdir()  # the Trainer's output folder; nothing is saved there
    report["seconds"] = time.perf_counter() - started
    report["train_loss"] = metrics.get("train_loss")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if held_out:
        report["accuracy_after"] = sample_accuracy(_engine(args, model, tokenizer, str(out)), held_out, template,
                                                   step_format, args.max_new_tokens)
        report["eval_problems"] = len(held_out)
    atomic_write(out / "sft.json", json.dumps(report, indent=2) + "\n")
    print(f"prm sft: {len(problems)} problems, {report['seconds']:.0f} s, loss {report['train_loss']:.3f}"
          + (f", held-out accuracy {100 * report['accuracy_before']:.1f}% -> {100 * report['accuracy_after']:.1f}%"
             f" ({len(held_out)} problems, 1 sample each)" if held_out else "")
          + f"; saved to {out}")
    return 0


def sample_accuracy(
    engine: Any, problems: Sequence[Problem], template: str, step_format: StepFormat, max_new_tokens: int = 256
) -> float:
    """Share of problems whose one sampled solution (T=0.7) grades correct."""
    from labeling.rollouts import RolloutConfig
    from labeling.sampling import sample_solutions
    from prm.engines.base import SamplingConfig
    from prm.grading import grade_solution

    rollout = RolloutConfig(SamplingConfig(temperature=0.7, max_new_tokens=max_new_tokens, seed=None))
    correct = 0
    # Seeds derive from problem ids, so sampling in chunks (for the progress bar) changes no sample.
    chunk = max(1, getattr(getattr(engine, "config", None), "batch_size", 32))
    with wiring.progress(len(problems), "held-out samples", unit="sample") as advance:
        for start in range(0, len(problems), chunk):
            sampled = sample_solutions(
                problems[start : start + chunk], engine, lambda gold, text: grade_solution(gold, text), samples=1,
                rollout=rollout, step_format=step_format, template=template,
            )
            correct += sum(bool(s.correct) for row in sampled for s in row)
            advance(min(len(problems), start + chunk))
    return correct / max(1, len(problems))
