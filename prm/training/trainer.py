"""Training through `transformers.Trainer`.

Public: `LoraOptions`, `TrainConfig`, `TrainResult`, `RewardTrainer`, `train`, `train_whole_model`
(with its Trainer mixins `LossOnlyPrediction`, `FolderSaving`).

`train(config, train_records, eval_records, model=..., tokenizer=...)` wraps a causal LM into a
`RewardModel` (adding the step tag), tokenizes the records into a `datasets.Dataset`, and runs a
`RewardTrainer`: a Trainer whose only change is the loss, that of the objective registered under
`config.objective.name` (`prm.training.losses`: the step objectives; `orm.objectives`: the outcome
ones, composed here for joint training); an objective with a trainer of its own (`fit`:
`label_token`, `implicit`) is handed to that trainer. Batches are padding-free and packed by
default (`prm.training.packing`). Checkpoints,
resume, gradient accumulation, logging (`report_to`), multi-process runs (accelerate launch /
torchrun: DDP, FSDP, DeepSpeed) and length-grouped sampling are the Trainer's own. Trainer
checkpoints (`checkpoint-N/`) and the final folder are the same standard token-classification
folder (`prm.modeling.standard`; a LoRA run's checkpoints keep the Trainer's bare state dict),
the checkpoints with optimizer state beside it; the final folder also gets a model card and
training_args.json (`prm.training.model_card`). Both are written atomically
(`prm.training.checkpoints`). Evaluations log the metrics of `prm.training.metrics`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler

from prm.modeling.reward_model import (
    REWARD_CONFIG_NAME,
    TRAINER_BACKBONE_CONFIG,
    RewardConfig,
    RewardModel,
    add_step_tag,
)
from prm.steps import StepFormat
from prm.training.checkpoints import (
    commit_folder,
    install_files,
    remove_checkpoints,
    rotate_checkpoints,
    staging_folder,
)
from prm.training.datasets import build_dataset
from prm.training.losses import ObjectiveConfig, loss_terms, reduce_terms
from prm.training.metrics import reward_metrics
from prm.training.model_card import run_card, write_run_record
from prm.training.packing import MODEL_KEYS, PACKING_MODES, packed_attention, training_collator

log = logging.getLogger(__name__)

_LABEL_KEYS = ("step_labels", "outcome_labels")
DEVICES = ("cpu", "auto")


@dataclass(frozen=True)
class LoraOptions:
    """LoRA on the backbone through peft (heads stay fully trainable); merged before saving."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] | str = "all-linear"

    def __post_init__(self) -> None:
        if not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"LoraOptions.r must be an int >= 1, got {self.r!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoraOptions.dropout must be in [0, 1), got {self.dropout!r}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults run on a CPU.

    extra_args: any other `transformers.TrainingArguments` field by name (an unknown name
    raises when training starts). train_top_layers: train only the heads, the backbone's top K
    decoder layers and its final norm (None: every weight); the frozen lower layers then run
    without autograd, so a step costs their forward pass only. head_learning_rate: the freshly
    initialised heads' own learning rate (None: learning_rate), as a few hundred steps at a
    backbone's fine-tuning rate barely move a random head. device: "cpu" (default) or "auto" (what accelerate finds).
    bf16: None (default) trains in bf16 on a CUDA device that supports it and in fp32 elsewhere.
    save_total_limit: checkpoints kept beside the final model (default 1, the last one; 0 keeps
    none once the final model is written; None keeps all). push_to_hub / hub_model_id: the
    Trainer's, passed through. base_model, data_files, eval_data_files: what the model card in
    the final folder records (files with their sha256).
    packing: "auto" (default: padding-free packed batches wherever the backbone allows),
    "on" or "off" (padded batches); see `prm.training.packing`. The label-token and implicit
    objectives, trained whole as causal LMs by their own trainers, still train padded.
    cache_frozen_layers: with train_top_layers, compute the frozen layers' output once per row
    and skip those layers in every step (`prm.training.frozen_cache`; padded batches).
    """

    output_dir: str
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    step_format: StepFormat = field(default_factory=StepFormat)
    max_length: int | None = 1024
    epochs: float = 1.0
    max_steps: int = -1
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    warmup_steps: float = 0
    lr_scheduler: str = "linear"
    batch_size: int = 4
    eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    group_by_length: bool = True
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 1
    eval_steps: int | None = None
    report_to: tuple[str, ...] = ()
    resume_from_checkpoint: str | bool | None = None
    lora: LoraOptions | None = None
    device: str = "cpu"
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    head_dropout: float = 0.0
    train_top_layers: int | None = None
    head_learning_rate: float | None = None
    show_progress: bool = False
    push_to_hub: bool = False
    hub_model_id: str | None = None
    base_model: str | None = None
    data_files: tuple[str, ...] = ()
    eval_data_files: tuple[str, ...] = ()
    packing: str = "auto"
    cache_frozen_layers: bool = False
    extra_args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.objective, ObjectiveConfig):
            raise ValueError(f"TrainConfig.objective must be an ObjectiveConfig, got {self.objective!r}")
        if self.packing not in PACKING_MODES:
            raise ValueError(f"TrainConfig.packing is {self.packing!r}; allowed: {', '.join(PACKING_MODES)}")
        if self.device not in DEVICES:
            raise ValueError(f"TrainConfig.device is {self.device!r}; allowed: {', '.join(DEVICES)}")
        for name in ("batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be an int >= 1, got {value!r}")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"TrainConfig.max_length must be >= 2 or None, got {self.max_length!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate!r}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("TrainConfig needs epochs > 0 or max_steps > 0")
        object.__setattr__(self, "report_to", tuple(self.report_to))
        for name in ("data_files", "eval_data_files"):
            object.__setattr__(self, name, tuple(str(f) for f in getattr(self, name)))
        if self.save_total_limit is not None and (not isinstance(self.save_total_limit, int) or self.save_total_limit < 0):
            raise ValueError(f"TrainConfig.save_total_limit must be an int >= 0 or None, got {self.save_total_limit!r}")
        if self.eval_steps is not None and (not isinstance(self.eval_steps, int) or self.eval_steps < 1):
            raise ValueError(f"TrainConfig.eval_steps must be an int >= 1 or None, got {self.eval_steps!r}")
        if self.head_learning_rate is not None and not self.head_learning_rate > 0:
            raise ValueError(f"TrainConfig.head_learning_rate must be > 0 or None, got {self.head_learning_rate!r}")
        if self.train_top_layers is not None:
            if not isinstance(self.train_top_layers, int) or self.train_top_layers < 1:
                raise ValueError(f"TrainConfig.train_top_layers must be an int >= 1 or None, got {self.train_top_layers!r}")
            if self.lora is not None:
                raise ValueError("TrainConfig.train_top_layers and lora are two ways to train part of the model; pick one")
        if self.cache_frozen_layers:
            if self.train_top_layers is None:
                raise ValueError("TrainConfig.cache_frozen_layers caches the layers train_top_layers freezes; set train_top_layers")
            if self.packing == "on":
                raise ValueError("TrainConfig.cache_frozen_layers trains padded batches; set packing to 'auto' or 'off'")

    def training_arguments(self, has_eval: bool) -> TrainingArguments:
        """The TrainingArguments this config stands for (extra_args win)."""
        args: dict[str, Any] = dict(
            output_dir=self.output_dir,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            lr_scheduler_type=self.lr_scheduler,
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.eval_batch_size or self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            train_sampling_strategy="group_by_length" if self.group_by_length else "random",
            length_column_name="length",
            seed=self.seed,
            logging_steps=self.logging_steps,
            save_strategy="steps",
            save_steps=self.save_steps,
            # 0 keeps none in the end (see train); meanwhile the last one is kept for resuming.
            save_total_limit=None if self.save_total_limit is None else max(self.save_total_limit, 1),
            eval_strategy="steps" if has_eval else "no",
            eval_steps=self.eval_steps or self.save_steps,
            report_to=list(self.report_to) or "none",
            use_cpu=self.device == "cpu",
            bf16=self.bf16 if self.bf16 is not None else default_bf16(self.device),
            push_to_hub=self.push_to_hub,
            hub_model_id=self.hub_model_id,
            activation_checkpointing=self.gradient_checkpointing,
            # Every parameter takes part in every loss (see RewardTrainer.compute_loss).
            ddp_find_unused_parameters=False,
            remove_unused_columns=False,
            disable_tqdm=not self.show_progress,
        )
        args.update(self.extra_args)
        return TrainingArguments(**args)


def default_bf16(device: str) -> bool:
    """bf16 where training runs on a CUDA device that supports it (fp32 on a CPU)."""
    return device != "cpu" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@dataclass
class TrainResult:
    """model and tokenizer after training; output_dir holds them as a plain HF folder."""

    model: RewardModel
    tokenizer: Any
    output_dir: Path
    metrics: dict[str, Any]


_HEAD_NAMES = ("step_head", "outcome_head")


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """The Trainer's length-grouped sampler with an order that is a function of (seed, epoch).

    The Trainer's own draws each epoch's order from the global torch RNG when the epoch starts;
    a run resumed in epoch e re-seeds that RNG and so draws epoch 0's order again, and trains
    the rest of epoch e (and every later epoch) on other batches than the uninterrupted run
    (seen in tests/test_training_kill.py). Here epoch e's order comes from its own generator,
    seeded with seed + e; the Trainer (through accelerate) calls `set_epoch` before each epoch.
    """

    def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return super().__iter__()


class LossOnlyPrediction:
    """Trainer mixin: evaluation computes the training loss and nothing else (no logits kept)."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None


class FolderSaving:
    """Trainer mixin for a model trained whole: checkpoints are the model's own folder,
    `model.save_pretrained(folder, tokenizer, folder_config)` (a raw state-dict save fails on
    tied embeddings)."""

    folder_config: Any = None

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        folder = Path(output_dir or self.args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder, self.processing_class, self.folder_config)


class RewardTrainer(LossOnlyPrediction, Trainer):
    """A Trainer whose loss is a named objective over the reward model's two heads.

    The item counts of each loss term are added up over processes before dividing, so a step on
    N processes equals a step on one process with the same global batch. Within gradient
    accumulation each micro-batch is a mean, as the Trainer does for models without loss kwargs.
    """

    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, objective: ObjectiveConfig, head_learning_rate: float | None = None,
                 processbench: Mapping[str, Sequence[Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.objective = objective
        self.head_learning_rate = head_learning_rate
        self.processbench = dict(processbench or {})
        self._staging: Path | None = None

    def create_optimizer(self, model=None):
        """The Trainer's optimizer, with the heads in a group of their own at head_learning_rate."""
        optimizer = super().create_optimizer(model)
        if self.head_learning_rate is None or getattr(self, "_heads_split", False):
            return optimizer
        heads = set(_HEAD_NAMES)
        head_ids = {id(p) for n, p in (model or self.model).named_parameters() if heads & set(n.split("."))}
        moved = []
        for group in optimizer.param_groups:
            moved += [p for p in group["params"] if id(p) in head_ids]
            group["params"] = [p for p in group["params"] if id(p) not in head_ids]
        if moved:
            optimizer.add_param_group({"params": moved, "lr": self.head_learning_rate, "weight_decay": 0.0})
        self._heads_split = True
        return optimizer

    def _get_train_sampler(self, train_dataset=None):
        """The Trainer's sampler; a length-grouped one seeded per epoch (see
        `EpochSeededLengthGroupedSampler`), so that a resumed run sees the same batches."""
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler and sampler.generator is None:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            sampler = EpochSeededLengthGroupedSampler(sampler.batch_size, lengths=sampler.lengths, seed=seed)
        return sampler

    def _get_output_dir(self, trial):
        return str(self._staging) if self._staging is not None else super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint, built in a staging folder and renamed into place when whole
        (`prm.training.checkpoints`). On several processes every rank writes its part into the
        one folder, so there the Trainer writes it in place as usual."""
        if self.args.world_size > 1:
            super()._save_checkpoint(model, trial)
            return
        run_dir = Path(super()._get_output_dir(trial))
        name = f"checkpoint-{self.state.global_step}"
        self._staging = staging_folder(run_dir, name)
        try:
            super()._save_checkpoint(model, trial)
            if isinstance(self.model, RewardModel):  # a label-token model is a plain causal LM folder
                write_reward_files(self._staging / name, self.model)
            commit_folder(self._staging / name, run_dir / name)
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        rotate_checkpoints(run_dir, self.args.save_total_limit, self.state.best_model_checkpoint)

    def _standard_layout(self) -> bool:
        """Checkpoints of a RewardModel without LoRA adapters are written as standard folders."""
        model = self.model
        return isinstance(model, RewardModel) and not hasattr(model.backbone, "get_base_model")

    def _save(self, output_dir=None, state_dict=None) -> None:
        """A checkpoint as the standard token-classification folder the final model is
        (`prm.modeling.standard`), so `AutoModel*.from_pretrained("checkpoint-N")` reads it; a
        LoRA run keeps the Trainer's own state dict (read back by `RewardModel.from_pretrained`
        only through its merged final folder)."""
        if not self._standard_layout():
            super()._save(output_dir, state_dict)
            return
        from prm.modeling.standard import write_reward_folder

        output_dir = output_dir if output_dir is not None else self.args.output_dir
        state = state_dict if state_dict is not None else self.model.state_dict()
        write_reward_folder(output_dir, self.model.backbone, self.model.reward_config.to_dict(), state,
                            is_main_process=self.args.should_save)
        if self.args.should_save:
            if self.processing_class is not None:
                self.processing_class.save_pretrained(output_dir)
            torch.save(self.args, str(Path(output_dir) / "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None) -> None:
        """Resume from a standard checkpoint folder (see `_save`); others as the Trainer does."""
        from prm.modeling.standard import is_token_classifier_folder, read_reward_state

        target = model if model is not None else self.model
        if not (self._standard_layout() and is_token_classifier_folder(resume_from_checkpoint)):
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        result = target.load_state_dict(read_reward_state(resume_from_checkpoint), strict=False)
        self._issue_warnings_after_load(result)

    def _load_best_model(self) -> None:
        from prm.modeling.standard import is_token_classifier_folder

        best = self.state.best_model_checkpoint
        if self._standard_layout() and is_token_classifier_folder(best):
            self._load_from_checkpoint(best)
        else:
            super()._load_best_model()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = {k: inputs[k] for k in _LABEL_KEYS if k in inputs}
        outputs = model(**{k: inputs[k] for k in MODEL_KEYS if k in inputs})  # padded or packed
        terms = loss_terms(self.objective, outputs, labels)
        processes = self.accelerator.num_processes
        global_count = None
        if processes > 1:
            global_count = lambda count: self.accelerator.gather(count.reshape(1)).sum()  # noqa: E731
        loss = reduce_terms(terms, global_count, scale=float(processes))
        # Keep both heads in the graph so that DDP finds a gradient for every parameter.
        loss = loss + 0.0 * (outputs.step_logits.sum() + outputs.outcome_logits.sum())
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """The loss; with compute_metrics (`prm.training.metrics`) also (step_logits (batch,
        seq), outcome_logits (batch,)) and their labels; pairs give the loss only."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        if prediction_loss_only or self.compute_metrics is None or "step_labels" not in inputs:
            return loss.detach(), None, None
        logits = (outputs.step_logits.detach().float(), outputs.outcome_logits.detach().float())
        return loss.detach(), logits, (inputs["step_labels"], inputs["outcome_labels"])

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        """The Trainer's evaluation, then ProcessBench F1 where ProcessBench records were given
        (scored by every process, as a sharded model needs all of them for a forward pass)."""
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix) if self.eval_dataset is not None else {}
        if self.processbench:
            from prm.scoring import PRMScorer
            from prm.training.metrics import processbench_metrics

            model = self.accelerator.unwrap_model(self.model)
            scorer = PRMScorer(model, self.processing_class, batch_size=self.args.per_device_eval_batch_size)
            try:
                extra = {f"{metric_key_prefix}_{k}": v for k, v in processbench_metrics(scorer, self.processbench).items()}
            finally:
                model.train()
            self.log(extra)
            metrics.update(extra)
        return metrics


def _as_reward_model(model: nn.Module, tokenizer: Any, config: TrainConfig) -> RewardModel:
    reward_config = RewardConfig(
        step_format=config.step_format,
        objective=config.objective.name,
        trained_heads=config.objective.heads,
        head_dropout=config.head_dropout,
    )
    if isinstance(model, RewardModel):
        if model.step_format != config.step_format:
            raise ValueError(
                f"the reward model uses {model.step_format}, the config {config.step_format}; "
                "train with the model's step format"
            )
        add_step_tag(tokenizer, model.backbone, config.step_format)
        heads = tuple(sorted(set(model.reward_config.trained_heads) | set(config.objective.heads)))
        model.reward_config = replace(reward_config, trained_heads=heads)
        return model
    return RewardModel.from_causal_lm(model, tokenizer, reward_config)


def _apply_lora(model: RewardModel, options: LoraOptions) -> None:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:  # optional dependency
        raise ImportError("LoRA needs peft: pip install 'prm-toolkit[lora]'") from error
    target = options.target_modules if isinstance(options.target_modules, str) else list(options.target_modules)
    lora = LoraConfig(
        r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout, target_modules=target
    )
    model.backbone = get_peft_model(model.backbone, lora)


def decoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's stack of decoder layers: its longest `nn.ModuleList`."""
    stacks = [m for m in backbone.modules() if isinstance(m, nn.ModuleList)]
    if not stacks:
        raise ValueError(f"{type(backbone).__name__} has no stack of layers (nn.ModuleList) to train the top of")
    return max(stacks, key=len)


def freeze_lower_layers(model: RewardModel, top: int) -> int:
    """Freeze every backbone weight except the top `top` decoder layers and what follows them
    (the final norm); the heads stay trainable. Returns the number of trainable parameters."""
    layers = decoder_layers(model.backbone)
    if top > len(layers):
        raise ValueError(f"train_top_layers={top}, but the backbone has {len(layers)} layers")
    trainable = {id(p) for layer in layers[len(layers) - top :] for p in layer.parameters()}
    in_stack = {id(p) for p in layers.parameters()}
    for parameter in model.backbone.parameters():
        # Embeddings and lower layers freeze; weights outside the stack that are not embeddings
        # (the final norm) stay trainable, as they act on the top layers' output.
        parameter.requires_grad = id(parameter) in trainable
    embeddings = {id(p) for p in model.backbone.get_input_embeddings().parameters()}
    for parameter in model.backbone.parameters():
        if id(parameter) not in in_stack and id(parameter) not in embeddings:
            parameter.requires_grad = True
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def write_reward_files(folder: Path, model: RewardModel) -> None:
    """reward_config.json in a Trainer checkpoint, and backbone_config.json where the
    checkpoint is a bare state dict (LoRA runs), so that `RewardModel.from_pretrained(
    "out/checkpoint-N")` reads it."""
    (folder / REWARD_CONFIG_NAME).write_text(json.dumps(model.reward_config.to_dict(), indent=2) + "\n")
    if (folder / "config.json").is_file():
        return
    backbone = model.backbone
    config = getattr(backbone, "get_base_model", lambda: backbone)().config
    (folder / TRAINER_BACKBONE_CONFIG).write_text(config.to_json_string(use_diff=False))


class _KeepRewardConfig(TrainerCallback):
    """The reward files in checkpoints written in place (runs on several processes)."""

    def __init__(self, model: RewardModel) -> None:
        self.model = model

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir() and not (folder / REWARD_CONFIG_NAME).is_file():
            write_reward_files(folder, self.model)
        return control


def train(
    config: TrainConfig,
    train_records: Sequence[Any],
    eval_records: Sequence[Any] | None = None,
    *,
    model: nn.Module,
    tokenizer: Any,
    callbacks: Sequence[TrainerCallback] = (),
    processbench: Mapping[str, Sequence[Any]] | None = None,
) -> TrainResult:
    """Train `model` (a causal LM, a base model or a RewardModel) and save it to output_dir.

    Records: `StepwiseSolution`s, or pairs for `bradley_terry` (see `prm.training.datasets`).
    metrics: the Trainer's train metrics; with eval_records, the eval loss and, for step-wise
    records, step/outcome accuracy and AUROC of the trained heads (`prm.training.metrics`), at
    every evaluation and at the end; with processbench (subset name -> ProcessBench records,
    which needs eval_records), ProcessBench F1 too; and the dataset reports (`train_rows`, ...).
    The final folder also gets a model card (README.md) and training_args.json.
    """
    fit = config.objective.objective.fit
    if fit is not None:  # a whole model of its own (label_token, orm's implicit): no reward heads
        return fit(config, train_records, eval_records, model=model, tokenizer=tokenizer)
    reward_model = _as_reward_model(model, tokenizer, config)
    tag_ids = config.step_format.tag_ids(tokenizer)
    train_set, train_report = build_dataset(
        train_records, tokenizer, config.step_format, config.objective, config.max_length, tag_ids
    )
    eval_set = eval_report = None
    if eval_records:
        eval_set, eval_report = build_dataset(
            eval_records, tokenizer, config.step_format, config.objective, config.max_length, tag_ids
        )
    if config.lora is not None:
        _apply_lora(reward_model, config.lora)
    if config.train_top_layers is not None:
        freeze_lower_layers(reward_model, config.train_top_layers)
    args = config.training_arguments(has_eval=eval_set is not None)
    cache = None
    if config.cache_frozen_layers:
        if processbench:
            raise ValueError("cache_frozen_layers: ProcessBench evaluation scores whole texts; leave it out")
        from prm.training.collate import RewardCollator
        from prm.training.frozen_cache import CachedStatesCollator, cache_datasets

        started = time.perf_counter()
        reward_model.to(args.device)
        cache, train_set, eval_set = cache_datasets(reward_model, decoder_layers(reward_model.backbone),
                                                    config.train_top_layers, tokenizer, train_set, eval_set,
                                                    config.eval_batch_size or config.batch_size,
                                                    show_progress=config.show_progress)
        log.info("cached the frozen layers' output of %d rows (%.0f MB) in %.1f s", len(cache.states),
                 cache.nbytes() / 1e6, time.perf_counter() - started)
        collator, attention = CachedStatesCollator(RewardCollator.for_tokenizer(tokenizer), cache.states), None
    else:
        collator, attention = training_collator(config.packing, reward_model.backbone, tokenizer,
                                                "outcome" in config.objective.heads, args.device.type,
                                                bool(args.bf16 or args.fp16))
    trainer = RewardTrainer(
        model=reward_model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[_KeepRewardConfig(reward_model), *callbacks],
        objective=config.objective,
        head_learning_rate=config.head_learning_rate,
        compute_metrics=reward_metrics(config.objective.heads) if config.objective.name != "bradley_terry" else None,
        processbench=processbench if eval_set is not None else None,
    )
    if processbench and eval_set is None:
        raise ValueError("ProcessBench evaluation runs with the evaluation set: give eval_records too")
    if not config.show_progress:
        trainer.remove_callback(PrinterCallback)  # library code does not print; logs still go to report_to
    skipping = cache.skipping_frozen_layers() if cache is not None else contextlib.nullcontext()
    with packed_attention(reward_model.backbone, attention), skipping:
        output = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
        metrics: dict[str, Any] = dict(output.metrics, train_packing=attention or "off")
        if cache is not None:
            metrics["train_frozen_cache_rows"] = len(cache.states)
        metrics.update({f"train_{k}": v for k, v in train_report.as_dict().items()})
        if eval_set is not None:
            metrics.update(trainer.evaluate())
            metrics.update({f"eval_{k}": v for k, v in eval_report.as_dict().items()})
    if config.lora is not None:
        reward_model.backbone = reward_model.backbone.merge_and_unload()
    out = Path(config.output_dir)
    if trainer.args.should_save:
        staging = staging_folder(out, "final-model")
        try:
            reward_model.save_pretrained(staging, tokenizer)
            write_run_record(staging, trainer.args, run_card(config, staging, metrics))
            install_files(staging, out, last=REWARD_CONFIG_NAME)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if config.save_total_limit == 0:
            remove_checkpoints(out)
        if trainer.args.push_to_hub:
            from huggingface_hub import upload_folder

            upload_folder(repo_id=trainer.hub_model_id, folder_path=str(out), commit_message="prm train: final model",
                          ignore_patterns=["checkpoint-*", ".*", "runs/*"])
    return TrainResult(reward_model, tokenizer, out, metrics)


def train_whole_model(
    config: TrainConfig,
    model: nn.Module,
    tokenizer: Any,
    folder_config: Any,
    rows_of: Callable[[Sequence[Any]], tuple[list[dict[str, Any]], Any]],
    trainer_class: type[Trainer],
    data_collator: Any,
    train_records: Sequence[Any],
    eval_records: Sequence[Any] | None = None,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Train `model`, a model trained whole with no reward heads (the label-token and implicit
    PRMs), and save it to config.output_dir as `model.save_pretrained(out, tokenizer,
    folder_config)`. rows_of(records) -> (rows, DatasetReport) for the train and eval sets;
    `trainer_class` (a `FolderSaving` Trainer) runs them. Refuses lora, train_top_layers, resume
    and gradient checkpointing, which it does not support. metrics: the train metrics, eval
    metrics where there are eval records, and the dataset reports (`train_rows`, ...)."""
    from datasets import Dataset

    rows, report = rows_of(train_records)
    eval_set = eval_report = None
    if eval_records:
        eval_rows, eval_report = rows_of(eval_records)
        eval_set = Dataset.from_list(eval_rows)
    trainer = trainer_class(
        model=model,
        args=config.training_arguments(has_eval=eval_set is not None),
        train_dataset=Dataset.from_list(rows),
        eval_dataset=eval_set,
        data_collator=data_collator,
        processing_class=tokenizer,
        **trainer_kwargs,
    )
    trainer.folder_config = folder_config
    name = config.objective.name
    if config.lora is not None or config.train_top_layers is not None:
        raise ValueError(f"objective {name!r} trains every weight; leave out lora and train_top_layers")
    if config.resume_from_checkpoint:
        raise ValueError(f"objective {name!r} does not resume from Trainer checkpoints; start a new run")
    if config.gradient_checkpointing:
        raise ValueError(f"objective {name!r} does not support gradient checkpointing yet; leave it out")
    if not config.show_progress:
        trainer.remove_callback(PrinterCallback)  # library code does not print
    metrics: dict[str, Any] = dict(trainer.train().metrics)
    metrics.update({f"train_{k}": v for k, v in report.as_dict().items()})
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
        metrics.update({f"eval_{k}": v for k, v in eval_report.as_dict().items()})
    out = Path(config.output_dir)
    if trainer.args.should_save:
        model.save_pretrained(out, tokenizer, folder_config)
    return TrainResult(model, tokenizer, out, metrics)
