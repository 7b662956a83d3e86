"""`prm train`: train a PRM and/or ORM from step-wise data files.

Public: `add_arguments(parser)`, `run(args) -> int`.

Examples:
  prm train --data train.jsonl --objective hard --out runs/prm
  prm train --data trl-lib/math_shepherd@train --backbone Qwen/Qwen2.5-0.5B --out runs/prm   (a hub dataset)
  prm train --config run.yaml --learning-rate 2e-5   (options from a file; the command line wins)
  prm train --data phase1.jsonl --format prm800k_critic --neutral drop --out runs/p
  prm train --data pairs.jsonl --format pairs --objective bradley_terry --out runs/orm
  prm train --data train.jsonl --objective label_token --out runs/lt   (P('+') vs P('-') at ' ки')
  prm train --data train.jsonl --objective implicit --beta 0.05 --out runs/implicit   (PRIME)
Data comes through `prm.data.load_stepwise` (format named or recognised from the first row);
`--format pairs` reads Bradley-Terry pairs (`orm.pairs`). Options that map to Trainer options
keep their `TrainingArguments` names and meaning (`--learning-rate`, `--max-grad-norm`,
`--lr-scheduler-type`, ...; the old `--lr`, `--epochs`, `--batch-size`, `--grad-accum` and
`--model` still parse, with a warning); `--resume` continues from the latest checkpoint in
--out (or a path).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from prm.cli import options, wiring
from prm.errors import OptionError
from prm.steps import STEP_FORMATS, step_format_named

logger = logging.getLogger("prm.train")

PAIRS_FORMAT = "pairs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from prm.data.loading import STEPWISE_FORMATS
    from prm.training.packing import PACKING_MODES

    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, nargs="+",
                      help=f"training data: {wiring.DATA_HELP} ({', '.join(wiring.STEPWISE_NAMES)})")
    data.add_argument("--eval-data", nargs="+", default=None,
                      help="evaluation data, same choices and format: loss, step/outcome accuracy and AUROC every "
                           "--eval-steps")
    data.add_argument("--eval-processbench", default=None, metavar="DIR",
                      help="also ProcessBench F1 at every evaluation: the folder with <subset>.json (needs --eval-data)")
    data.add_argument("--eval-processbench-limit", type=int, default=100,
                      help="ProcessBench solutions per subset, a seeded stratified sample")
    data.add_argument("--data-root", default="../shared/data", help="folder holding the named sets")
    data.add_argument("--format", default=None, choices=[*STEPWISE_FORMATS, PAIRS_FORMAT],
                      help="reader (default: recognised from the first row)")
    data.add_argument("--neutral", choices=["positive", "negative", "drop"], default=None,
                      help="PRM800K: label of a neutral (0) rating (default: the reader's, positive)")
    data.add_argument("--first-error", action="store_true",
                      help="PRM800K: supervise each solution only up to its first error")
    data.add_argument("--alternatives", action=argparse.BooleanOptionalAction, default=None,
                      help="PRM800K: also train on every rated non-chosen candidate step (default: "
                           "on; the chosen path alone holds almost no bad steps)")
    data.add_argument("--max-length", type=int, default=1024, help="tokens per solution; whole trailing steps are cut")
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", dest="model", default="embedded",
                       help="what training starts from: 'embedded', a Hugging Face name or a folder")
    model.add_argument("--step-format", default=None, choices=STEP_FORMATS,
                       help="step format of the reward model (default: the one the data's label sidecar "
                            "records, else 'default')")
    model.add_argument("--step-tag", default=None,
                       help="step tag, replacing the format's (default: the format's, a new special token)")
    model.add_argument("--existing-tag", action="store_true",
                       help="the step tag is an existing string of the tokenizer (e.g. ' ки'); do not add it")
    model.add_argument("--objective", default="hard", choices=objective_names(), help="training objective")
    model.add_argument("--beta", type=float, default=0.05,
                       help="implicit: reward scale in r = beta * log(pi(y) / pi_ref(y))")
    model.add_argument("--step-weight", type=float, default=1.0, help="joint: weight of the step loss")
    model.add_argument("--outcome-weight", type=float, default=1.0, help="joint: weight of the outcome loss")
    model.add_argument("--head-lr", type=float, default=None,
                       help="learning rate of the freshly initialised heads (default: --learning-rate)")
    model.add_argument("--train-top-layers", type=int, default=None,
                       help="train only the heads and the top K decoder layers (default: every weight)")
    model.add_argument("--cache-frozen-layers", action="store_true",
                       help="with --train-top-layers: compute the frozen layers' output once per row and skip "
                            "them in every step (cheaper epochs; padded batches, held in memory)")
    model.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: train all weights)")
    model.add_argument("--lora-alpha", type=int, default=16, help="LoRA alpha")
    model.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout")
    run = parser.add_argument_group("run (TrainingArguments fields keep their transformers names)")
    run.add_argument("--out", required=True, help="output folder (checkpoints and the final model)")
    add_training_arguments(run, learning_rate=1e-5, batch_size=4, lr_scheduler_type="linear")
    run.add_argument("--eval-steps", type=int, default=None, help="optimizer steps between evaluations "
                     "on --eval-data (default: --save-steps)")
    run.add_argument("--save-steps", type=int, default=500, help="optimizer steps between checkpoints")
    run.add_argument("--save-total-limit", type=int, default=1,
                     help="checkpoints kept beside the final model (1: the last; 0: none once it is written)")
    run.add_argument("--no-group-by-length", action="store_true", help="sample batches at random")
    run.add_argument("--report-to", nargs="*", default=[],
                     help="tensorboard, wandb, ... (default: none; pip install 'prm-toolkit[tracking]')")
    run.add_argument("--push-to-hub", action="store_true", help="push checkpoints and the final folder (Trainer's push_to_hub)")
    run.add_argument("--hub-model-id", default=None, help="with --push-to-hub: the repository (default: --out's name)")
    run.add_argument("--resume", nargs="?", const=True, default=None,
                     help="resume from the latest checkpoint in --out, or from the given checkpoint")
    run.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                     help="bfloat16 mixed precision (default: on for a CUDA device that supports it, off on a CPU)")
    run.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in backward")
    run.add_argument("--packing", default="auto", choices=PACKING_MODES,
                     help="padding-free packed batches: several solutions per row, attention kept inside each "
                          "(default auto: on wherever the backbone allows; measured faster than padding, "
                          "see BENCHMARKS.md); off: padded batches")
    options.add_compute(run)
    for old, new in (("--model", "--backbone"), *TRAINING_ALIASES):
        options.deprecate(parser, old, new)


# Old spelling -> the TrainingArguments name (prm train, prm sft).
TRAINING_ALIASES = (("--lr", "--learning-rate"), ("--epochs", "--num-train-epochs"),
                    ("--batch-size", "--per-device-train-batch-size"), ("--grad-accum", "--gradient-accumulation-steps"))
# TrainingArguments fields with no TrainConfig/SFTConfig field of their own: passed by name.
PASSED_THROUGH = ("max_grad_norm", "optim", "adam_beta1", "adam_beta2", "adam_epsilon")


def add_training_arguments(group: Any, learning_rate: float, batch_size: int, lr_scheduler_type: str) -> None:
    """The optimizer options `prm train` and `prm sft` share, under their TrainingArguments names."""
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    group.add_argument("--num-train-epochs", dest="epochs", type=float, default=1.0, help="passes over the data")
    group.add_argument("--max-steps", type=int, default=-1, help="optimizer steps (overrides --num-train-epochs)")
    group.add_argument("--learning-rate", dest="lr", type=float, default=learning_rate, help="peak learning rate")
    group.add_argument("--lr-scheduler-type", default=lr_scheduler_type, choices=[s.value for s in SchedulerType],
                       help="learning-rate schedule")
    group.add_argument("--warmup-steps", type=float, default=0, help="steps, or a fraction of all steps if < 1")
    group.add_argument("--warmup-ratio", type=float, default=None,
                       help="warm-up as a fraction of all steps, in [0, 1) (transformers 5 reads it as --warmup-steps < 1)")
    group.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    group.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping norm")
    group.add_argument("--optim", default=None, choices=[o.value for o in OptimizerNames], metavar="NAME",
                       help="optimizer, a transformers OptimizerNames value (default: the Trainer's, adamw_torch_fused)")
    group.add_argument("--adam-beta1", type=float, default=0.9, help="AdamW beta1")
    group.add_argument("--adam-beta2", type=float, default=0.999, help="AdamW beta2")
    group.add_argument("--adam-epsilon", type=float, default=1e-8, help="AdamW epsilon")
    group.add_argument("--per-device-train-batch-size", dest="batch_size", type=int, default=batch_size,
                       help="training examples per device per step")
    group.add_argument("--gradient-accumulation-steps", dest="grad_accum", type=int, default=1,
                       help="batches per optimizer step")
    group.add_argument("--logging-steps", type=int, default=10, help="optimizer steps between loss logs")
    group.add_argument("--seed", type=int, default=0, help="random seed")


def passed_through(args: argparse.Namespace) -> dict[str, Any]:
    """The PASSED_THROUGH TrainingArguments fields, where given."""
    return {name: getattr(args, name) for name in PASSED_THROUGH if getattr(args, name, None) is not None}


def warmup(args: argparse.Namespace) -> float:
    """warmup_steps for the Trainer: --warmup-steps, or --warmup-ratio (a fraction below 1)."""
    if args.warmup_ratio is None:
        return args.warmup_steps
    if not 0 <= args.warmup_ratio < 1:
        raise OptionError("--warmup-ratio", "must be in [0, 1)", value=args.warmup_ratio)
    if args.warmup_steps:
        raise OptionError("--warmup-ratio", "and --warmup-steps both set the warm-up", "give one of them")
    return args.warmup_ratio


def objective_names() -> tuple[str, ...]:
    """The objectives `--objective` names: the core's step objectives (`prm.training.losses`)
    composed with orm's outcome objectives (`orm.objectives`, which registers them)."""
    import orm.objectives  # noqa: F401  (registers orm, bradley_terry, joint, implicit)
    from prm.training.losses import objective_names as registered

    return registered()


def _read(paths: list[str], args: argparse.Namespace) -> list[Any]:
    records: list[Any] = []
    for path in paths:
        if args.format == PAIRS_FORMAT:
            from orm.pairs import read_pairs

            if not Path(path).is_file():
                raise FileNotFoundError(f"--data {path}: no such file; pairs are read from local .jsonl files")
            records.extend(read_pairs(path))
            continue
        policy: dict[str, Any] = {}
        if args.neutral is not None:
            policy["neutral"] = args.neutral
        if args.first_error:
            policy["cut_at_first_error"] = True
        if args.alternatives is not None:
            policy["alternatives"] = args.alternatives
        records.extend(wiring.load_stepwise(path, args.data_root, format=args.format, **policy))
        logger.info("read %s: %d records so far", path, len(records))
    return records


def _resume_point(resume, out: str):
    """--resume as a checkpoint folder: the newest complete checkpoint in --out for a bare
    --resume (saying which torn ones it skipped), or the folder given."""
    if resume is None:
        return None
    if resume is not True:
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"--resume {resume}: no such checkpoint folder")
        return resume
    from prm.modeling.reward_model import REWARD_CONFIG_NAME
    from prm.training.checkpoints import latest_complete_checkpoint

    checkpoint, skipped = latest_complete_checkpoint(out, required=(REWARD_CONFIG_NAME,))
    for folder, why in skipped:
        logger.warning("--resume: skipped %s (incomplete: %s)", folder, why)
    if checkpoint is None:
        raise OptionError("--resume", f"found no complete checkpoint-N folder in {out}",
                          "drop --resume to start afresh, or give a checkpoint folder")
    logger.info("--resume: continuing from %s", checkpoint)
    return str(checkpoint)


def _config(args: argparse.Namespace):
    from prm.training.losses import ObjectiveConfig
    from prm.training.trainer import LoraOptions, TrainConfig

    objective_names()  # the outcome objectives registered before ObjectiveConfig looks them up

    if args.objective == "bradley_terry" and args.format != PAIRS_FORMAT:
        raise OptionError("--objective bradley_terry", "trains on pairs",
                          "add --format pairs (rows {prompt, chosen, rejected})")
    if args.format == PAIRS_FORMAT and args.objective != "bradley_terry":
        raise OptionError("--format pairs", f"goes with --objective bradley_terry, not {args.objective!r}")
    _check_tracking(args.report_to)
    wiring.check_at_least(args, 0, "save_total_limit")
    wiring.check_at_least(args, 1, "eval_steps", "eval_processbench_limit")
    if args.eval_processbench and not args.eval_data:
        raise OptionError("--eval-processbench", "runs with the evaluation", "add --eval-data FILE")
    resume = _resume_point(args.resume, args.out)
    lora = LoraOptions(args.lora_r, args.lora_alpha, args.lora_dropout) if args.lora_r > 0 else None
    return TrainConfig(
        output_dir=args.out,
        objective=ObjectiveConfig(args.objective, args.step_weight, args.outcome_weight),
        step_format=_step_format(args),
        max_length=args.max_length,
        epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=warmup(args),
        lr_scheduler=args.lr_scheduler_type,
        eval_steps=args.eval_steps,
        extra_args=passed_through(args),
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        group_by_length=not args.no_group_by_length,
        seed=args.seed,
        logging_steps=args.logging_steps,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        report_to=tuple(args.report_to),
        resume_from_checkpoint=resume,
        lora=lora,
        train_top_layers=args.train_top_layers,
        cache_frozen_layers=args.cache_frozen_layers,
        head_learning_rate=args.head_lr,
        device="cpu" if args.device == "cpu" else "auto",  # the Trainer places the model (torchrun: per rank)
        bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing,
        packing=args.packing,
        show_progress=True,
        push_to_hub=args.push_to_hub,
        hub_model_id=args.hub_model_id,
        base_model=args.model,
        data_files=tuple(args.data),
        eval_data_files=tuple(args.eval_data or ()),
    )


def _check_tracking(report_to: list[str]) -> None:
    """--report-to names transformers knows, with their package installed (checked up front:
    the Trainer would fail only once the model is loaded)."""
    from transformers.integrations import get_available_reporting_integrations
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    available = set(get_available_reporting_integrations())
    for name in report_to:
        if name in ("none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            raise OptionError("--report-to", "is not a tracker transformers knows",
                              f"choose from {', '.join(sorted(INTEGRATION_TO_CALLBACK))}", name)
        if name not in available:
            raise OptionError("--report-to", f"needs the {name} package, which is not installed",
                              "pip install 'prm-toolkit[tracking]' (tensorboard) or pip install wandb", name)


def _processbench(args: argparse.Namespace) -> dict[str, list] | None:
    """--eval-processbench: a seeded stratified sample of each subset file the folder holds
    (the sampling `prm eval processbench` uses; a subset the folder lacks is left out here)."""
    if not args.eval_processbench:
        return None
    from prm.cli.eval import read_processbench_sample
    from prm.metrics.processbench import SUBSETS

    folder = Path(args.eval_processbench)
    present = [name for name in SUBSETS if (folder / f"{name}.json").is_file()]
    if not present:
        raise OptionError("--eval-processbench", f"holds none of {', '.join(f'{n}.json' for n in SUBSETS)}",
                          "point it at the ProcessBench folder", args.eval_processbench)
    subsets, _ = read_processbench_sample(str(folder), present, args.eval_processbench_limit, args.seed)
    return subsets


def _step_format(args: argparse.Namespace):
    """--step-format, else what the data's label sidecars record, else the default; then
    --step-tag / --existing-tag replace its tag."""
    fmt = step_format_named(args.step_format) if args.step_format else wiring.recorded_step_format(args.data)
    fmt = fmt or STEP_FORMATS["default"]
    if args.step_tag is not None:
        fmt = dataclasses.replace(fmt, tag=args.step_tag, tag_is_special=not args.existing_tag)
    elif args.existing_tag:
        fmt = dataclasses.replace(fmt, tag_is_special=False)
    if fmt != STEP_FORMATS["default"]:
        logger.info("step format %s", fmt)
    return fmt


def close_process_group() -> None:
    """End a torchrun/accelerate process group cleanly (a no-op in one process).

    The Trainer joins a process group but never leaves it; a gloo worker that then exits with
    the group alive was seen to abort at teardown ("terminate called without an active
    exception"), failing a run whose training had finished.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    config = _config(args)
    train_records = _read(args.data, args)
    eval_records = _read(args.eval_data, args) if args.eval_data else None
    processbench = _processbench(args)
    if not train_records:
        raise ValueError(f"no records in {' '.join(args.data)}")

    if args.objective in ("hard", "soft", "joint", "label_token"):
        labels = [v for r in train_records for v in (r.labels or ()) if v is not None]
        if not labels and args.objective != "joint":  # joint still trains the outcome head
            raise OptionError("--objective", f"{args.objective} trains on step labels, and {' '.join(args.data)} has none",
                              "label the steps (prm label) or train an outcome model (--objective orm)", args.objective)
        good = sum(v >= 0.5 for v in labels)
        logger.info("%d step labels: %d good, %d bad", len(labels), good, len(labels) - good)
        if labels and good in (0, len(labels)):
            logger.warning("every step label is %s: the step head cannot learn to tell steps apart "
                           "(PRM800K: drop --no-alternatives)", "good" if good else "bad")

    from transformers import set_seed

    from prm.modeling.loading import load_causal_lm
    from prm.training.trainer import train

    set_seed(args.seed)
    try:
        with wiring.phase(f"loading backbone {args.model}"):
            model, tokenizer = load_causal_lm(args.model)
        logger.info("backbone %s: %.1fM parameters", args.model, sum(p.numel() for p in model.parameters()) / 1e6)
        if args.objective == "implicit":
            from orm.implicit import ImplicitPRMConfig
            from orm.implicit_training import train_implicit

            result = train_implicit(config, train_records, eval_records, model=model, tokenizer=tokenizer,
                                    implicit_config=ImplicitPRMConfig(beta=args.beta))
        else:
            result = train(config, train_records, eval_records, model=model, tokenizer=tokenizer,
                           processbench=processbench)
    finally:
        close_process_group()
    if os.environ.get("RANK", "0") != "0":  # torchrun / accelerate launch: one summary, from rank 0
        return 0
    m = result.metrics
    lines = [
        f"objective        {args.objective} (heads: {', '.join(config.objective.heads)})",
        f"rows             {m['train_rows']} of {m['train_records']} records "
        f"({m['train_skipped_too_long']} too long, {m['train_skipped_unsupervised']} unlabelled, "
        f"{m['train_dropped_steps']} trailing steps cut at {config.max_length} tokens)",
        f"train loss       {m.get('train_loss', float('nan')):.4f} in {m.get('train_runtime', 0):.1f} s",
    ]
    if "train_packing" in m:
        lines.append(f"packing          {m['train_packing']} (--packing {args.packing})")
    if "eval_loss" in m:
        lines.append(f"eval loss        {m['eval_loss']:.4f} ({m['eval_rows']} rows)")
    for head in ("step", "outcome"):
        if f"eval_{head}_accuracy" in m:
            lines.append(f"eval {head:<11} accuracy {m[f'eval_{head}_accuracy']:.3f}, AUROC "
                         f"{m.get(f'eval_{head}_auroc', float('nan')):.3f}")
    if "eval_processbench_f1" in m:
        lines.append(f"ProcessBench F1  {m['eval_processbench_f1']:.1f} (threshold {m['eval_processbench_threshold']:.3f})")
    if args.objective in ("label_token", "implicit"):
        kind = "a label-token" if args.objective == "label_token" else "an implicit"
        lines.append(f"model            {result.output_dir} ({kind} PRM: prm search --prm {result.output_dir})")
    else:
        lines.append(f"model            {result.output_dir} (load with prm.modeling.load_reward_model)")
    lines.append(f"wall time        {time.perf_counter() - started:.1f} s")
    print("\n".join(lines))
    return 0
