"""The command-line conventions every verb shares (prm.cli.options): one meaning per flag name,
--config files, old spellings, no abbreviations, defaults in --help, --device/--threads, hub
names, --out folders. No model is loaded."""

from __future__ import annotations

import argparse
import json
import os

import pytest
import yaml

from prm.cli import main, options, wiring
from prm.cli.main import VERBS, build_verb_parser

# Every visible flag of every verb -> (its one meaning, a word its help must hold in every verb
# that has it, or None). A flag that appears in a second sense has to be renamed, not added twice.
FLAGS = {
    "--adam-beta1": ("AdamW beta1 (TrainingArguments)", "beta1"),
    "--adam-beta2": ("AdamW beta2 (TrainingArguments)", "beta2"),
    "--adam-epsilon": ("AdamW epsilon (TrainingArguments)", "epsilon"),
    "--aggregation": ("how step scores make a solution score", None),
    "--alternatives": ("PRM800K: also the rated non-chosen candidate steps", "candidate"),
    "--backbone": ("what training starts from", "from"),
    "--bad-problem": ("PRM800K record policy", None),
    "--balance-temperature": ("REBASE softmax temperature", "temperature"),
    "--beam-results": ("saved beam-search result files", "beam"),
    "--beam-width": ("paths kept per problem in beam search", "paths"),
    "--beta": ("implicit PRM reward scale", "beta"),
    "--bf16": ("bfloat16 mixed precision", "bfloat16"),
    "--bootstrap": ("bootstrap resamples", "resamples"),
    "--chat-template": ("wrap the prompt in the chat template", "chat template"),
    "--config": ("options from a YAML file", "yaml"),
    "--cut-at-first-error": ("PRM800K: end records at the first bad step", "first"),
    "--data": ("the input data set", None),
    "--data-root": ("the folder holding the shared/named data", "folder"),
    "--device": ("torch device", "device"),
    "--draws": ("subsets drawn per problem for vote estimators", "subsets"),
    "--dtype": ("policy weight dtype", "float"),
    "--early-stop": ("stop a prefix at its first correct rollout", "rollout"),
    "--engine": ("generation engine", "engine"),
    "--engine-batch-size": ("sample rows decoded together", "decoded"),
    "--ensemble": ("how several reward models combine", "combine"),
    "--ensemble-k": ("k of mean - k * std", "k"),
    "--eval-data": ("held-out evaluation data", None),
    "--eval-problems": ("held-out problems sampled before/after fine-tuning", "held-out"),
    "--eval-steps": ("optimizer steps between evaluations", "evaluations"),
    "--every-step": ("count a step once per record", "record"),
    "--existing-tag": ("the step tag is an existing string", "existing"),
    "--extract-answer": ("pred is a whole solution", "solution"),
    "--first-error": ("PRM800K: supervise up to the first error", "first error"),
    "--format": ("the data reader", "reader"),
    "--gold": ("one gold answer", "gold"),
    "--grader-workers": ("grading processes", "grading"),
    "--gradient-accumulation-steps": ("batches per optimizer step", "optimizer step"),
    "--gradient-checkpointing": ("recompute activations", "activations"),
    "--group-size": ("labeling units per engine batch", "units"),
    "--gsm8k-problems": ("GSM8K problems in the demo", "gsm8k"),
    "--head": ("which reward-model head serves", "head"),
    "--head-lr": ("learning rate of the new heads", "heads"),
    "--help": ("help", None),
    "--host": ("address to bind", "address"),
    "--initial-screening": ("PRM800K record policy", None),
    "--keys": ("solution score keys", "keys"),
    "--label-method": ("the demo's labeling method", "label"),
    "--label-problems": ("problems the demo labels", "label"),
    "--label-type": ("hard or soft step labels", None),
    "--labels": ("labelled solution files", "labelled"),
    "--learning-rate": ("peak learning rate", "learning rate"),
    "--limit": ("how many of the inputs", None),
    "--full-rescoring": ("read whole prefixes instead of growing KV caches", "kv cache"),
    "--bins": ("equal-width probability bins", "bins"),
    "--eval-processbench": ("ProcessBench F1 during training", "processbench"),
    "--eval-processbench-limit": ("ProcessBench solutions per subset during training", "processbench"),
    "--hub-model-id": ("the hub repository pushed to", "repository"),
    "--no-bf16": ("turn off bfloat16 mixed precision", "bfloat16"),
    "--noise-sd": ("standard deviation of the noisy proxy", "noise"),
    "--packing": ("padding-free packed training batches", "packed"),
    "--processbench": ("the ProcessBench folder", "processbench"),
    "--push-to-hub": ("push to the Hugging Face hub", "push"),
    "--validation-fraction": ("share of solutions the threshold is chosen on", "threshold"),
    "--weak": ("deliberately weak proxies", "weak"),
    "--logging-steps": ("optimizer steps between loss logs", "steps"),
    "--lora-alpha": ("LoRA alpha", "lora"),
    "--lora-dropout": ("LoRA dropout", "lora"),
    "--lora-r": ("LoRA rank", "lora"),
    "--lr-scheduler-type": ("learning-rate schedule", "schedule"),
    "--max-chars": ("characters per served solution", "characters"),
    "--max-grad-norm": ("gradient clipping norm", "clipping"),
    "--max-items": ("solutions per request", "request"),
    "--max-length": ("tokens per training/scored sequence", "tokens"),
    "--max-new-tokens": ("generated tokens per sample", None),
    "--max-operand": ("largest synthetic operand", None),
    "--max-ops": ("most synthetic operations", "operations"),
    "--max-rounds": ("rounds of a step-wise search", "rounds"),
    "--max-step-tokens": ("tokens per search step", None),
    "--max-steps": ("optimizer steps", "optimizer steps"),
    "--max-tokens": ("search token budget per problem", "budget"),
    "--max-wait-ms": ("batching wait", "wait"),
    "--method": ("the verb's algorithm (labeling or search method)", None),
    "--min-correct": ("correct rollouts that make a prefix good", "correct"),
    "--min-ops": ("fewest synthetic operations", "operations"),
    "--n": ("best-of-n samples per problem", "best-of-n"),
    "--n-candidates": ("new steps / solutions per problem in a search", None),
    "--neutral": ("PRM800K: label of a neutral rating", "neutral"),
    "--no-alternatives": ("see --alternatives", "candidate"),
    "--no-chat-template": ("see --chat-template", "chat template"),
    "--no-group-by-length": ("batches at random", "random"),
    "--no-plot": ("no plots", None),
    "--no-progress": ("no progress bar", "progress"),
    "--no-resume": ("overwrite an existing output", "overwrite"),
    "--no-shared-prefill": ("prefill every sample separately", "prefill"),
    "--num-train-epochs": ("passes over the training data", "passes"),
    "--objective": ("training objective", "objective"),
    "--on-error": ("stop at or skip bad records", None),
    "--optim": ("optimizer", "optimizer"),
    "--orm": ("outcome reward model", "outcome"),
    "--out": ("the output folder", "folder"),
    "--outcome-weight": ("joint: outcome loss weight", "outcome"),
    "--overflow": ("a solution longer than --max-length", "longer"),
    "--pairs-out": ("ORM pairs file", "pairs"),
    "--particles": ("particles per problem", "particles"),
    "--per-device-train-batch-size": ("training examples per device per step", "training examples"),
    "--plot-methods": ("rules drawn on the plots", "plots"),
    "--plot-title": ("plot title", "title"),
    "--policy": ("the generating model", "generating"),
    "--port": ("TCP port", "port"),
    "--pred": ("one predicted answer", "predicted"),
    "--prm": ("process reward model (step scorer)", None),
    "--prm-kind": ("convention of the --prm folder", "convention"),
    "--problem-batch-size": ("problems per engine call", "problems per engine call"),
    "--problems": ("problem files", "problem"),
    "--prompt-template": ("policy prompt template", "{question}"),
    "--quality-control": ("PRM800K record policy", None),
    "--report-to": ("experiment trackers", None),
    "--resample-temperature": ("particle resampling temperature", "temperature"),
    "--response-marker": ("where a query's response starts", "response"),
    "--results": ("saved search result files", "result"),
    "--resume": ("resume from a checkpoint", "resume"),
    "--reward-model": ("a reward-model folder", "reward-model"),
    "--rm-epochs": ("demo: reward-model passes", "reward-model"),
    "--rm-head-lr": ("demo: reward-model heads' learning rate", "heads"),
    "--rm-lr": ("demo: reward-model learning rate", "reward-model"),
    "--rm-top-layers": ("demo: reward-model layers trained", "reward model"),
    "--rollouts": ("rollouts per estimated prefix", "rollouts"),
    "--round-size": ("rollouts per early-stop round", "rollouts"),
    "--samples": ("solutions per labelled problem", "solutions"),
    "--save-steps": ("optimizer steps between checkpoints", "checkpoints"),
    "--save-total-limit": ("checkpoints kept", "checkpoints"),
    "--scorer-batch-size": ("solutions per reward-model forward pass", "forward pass"),
    "--search-problems": ("demo: problems searched", "search"),
    "--seed": ("random seed", "seed"),
    "--sft-epochs": ("demo: warm-up passes", "warm-up"),
    "--sft-lr": ("demo: warm-up learning rate", "warm-up"),
    "--sft-problems": ("demo: warm-up problems", "warm-up"),
    "--shard": ("i/n share of the inputs", "i/n"),
    "--sim-call-seconds": ("simulated engine latency", "simulated"),
    "--sim-error-rate": ("simulated engine error rate", "simulated"),
    "--solutions": ("step-wise solutions to label", "solutions"),
    "--split": ("synthetic splits NAME=COUNT", "splits"),
    "--step-format": ("how solutions split into steps", None),
    "--step-tag": ("step tag", "tag"),
    "--step-weight": ("joint: step loss weight", "step loss"),
    "--subsets": ("ProcessBench subsets", None),
    "--synthetic-steps": ("operations per synthetic problem", "synthetic"),
    "--temperature": ("sampling temperature", None),
    "--threads": ("CPU threads", "threads"),
    "--threshold": ("fixed ProcessBench threshold", "threshold"),
    "--timeout": ("seconds per grading call", "seconds"),
    "--top-p": ("nucleus sampling", None),
    "--train-top-layers": ("train only the top K layers", "top"),
    "--cache-frozen-layers": ("frozen layers computed once per row", "once per row"),
    "--unrated": ("PRM800K: label of an unrated step", "rating"),
    "--verifiable-weight": ("weight of the grader's verdict", "grader"),
    "--verify-correct": ("binary search on right answers too", "right answers"),
    "--vllm-max-len": ("vLLM context length", "context"),
    "--vllm-memory": ("vLLM memory fraction", "memory"),
    "--warmup-ratio": ("warm-up as a fraction of all steps", "fraction"),
    "--warmup-steps": ("warm-up steps", "steps"),
    "--weight-decay": ("AdamW weight decay", "decay"),
}


def _leaf_parsers():
    for name in VERBS:
        yield from options._leaves(build_verb_parser(name))


def _visible_uses():
    uses: dict[str, list[tuple[str, str]]] = {}
    for leaf in _leaf_parsers():
        for action in leaf._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for flag in options.visible_options(action):
                if flag.startswith("--"):
                    uses.setdefault(flag, []).append((leaf.prog, (action.help or "").lower()))
    return uses


def test_no_flag_name_has_two_meanings_across_verbs():
    uses = _visible_uses()
    assert sorted(set(uses) - set(FLAGS)) == [], "new flags: give each one meaning in FLAGS (or rename it)"
    assert sorted(set(FLAGS) - set(uses)) == [], "FLAGS names flags no verb has"
    for flag, sites in uses.items():
        word = FLAGS[flag][1]
        for prog, help_text in sites:
            if word is not None and flag != "--help":
                assert word.lower() in help_text, f"{prog} {flag} reads as another meaning than {FLAGS[flag][0]!r}"


def test_old_spellings_are_hidden_and_no_longer_mean_two_things():
    uses = _visible_uses()
    for old in ("--model", "--batch-size", "--input", "--output", "--lr", "--epochs", "--grad-accum", "--root",
                "--file", "--workers"):
        assert old not in uses, old
    assert {prog for prog, _ in uses["--problems"]} == {"prm eval labels", "prm eval truth", "prm eval overoptimization",
                                                       "prm eval calibration"}


def test_every_parser_refuses_abbreviations_and_shows_defaults(capsys):
    for leaf in _leaf_parsers():
        assert leaf.allow_abbrev is False, leaf.prog
    parser = build_verb_parser("search")
    assert parser.parse_args(["--engine", "vllm"]).engine == "vllm"
    with pytest.raises(SystemExit):
        parser.parse_args(["--engine-b", "8"])
    for verb, shown in [("train", ["(default: 1e-05)", "(default: embedded)", "(default: auto)", "(default: linear)"]),
                        ("search", ["(default: 16)", "(default: transformers)", "(default: 12)"])]:
        help_text = " ".join(build_verb_parser(verb).format_help().split())
        for text in shown:
            assert text in help_text, (verb, text)


@pytest.mark.parametrize("old, new, verb, rest", [
    ("--model", "--backbone", "train", ["--data", "d.jsonl", "--out", "o"]),
    ("--lr", "--learning-rate", "train", ["--data", "d.jsonl", "--out", "o"]),
    ("--batch-size", "--scorer-batch-size", "score", ["--reward-model", "m", "--data", "d.jsonl", "--out", "o"]),
    ("--problems", "--data", "label", ["--out", "o"]),
    ("--max-steps", "--max-rounds", "search", []),
    ("--root", "--data-root", "data", []),
])
def test_an_old_spelling_parses_as_the_new_one_with_one_warning(old, new, verb, rest, capsys):
    value = "3" if old in ("--batch-size", "--max-steps", "--lr") else "x"
    parser = build_verb_parser(verb)
    before = parser.parse_args([new, value, *rest])
    capsys.readouterr()
    after = build_verb_parser(verb).parse_args([old, value, *rest])
    assert vars(after) == vars(before)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and old in warning[0] and new in warning[0] and "deprecated" in warning[0]


# Every option of `prm train`, each away from its default.
TRAIN_ARGV = [
    "--data", "a.jsonl", "b.jsonl", "--eval-data", "c.jsonl", "--data-root", "root", "--format", "trl_stepwise",
    "--neutral", "drop", "--first-error", "--no-alternatives", "--max-length", "512", "--backbone", "org/model",
    "--step-format", "math_shepherd", "--step-tag", " ки", "--existing-tag", "--objective", "joint", "--beta", "0.1",
    "--step-weight", "0.5", "--outcome-weight", "2.0", "--head-lr", "1e-4", "--train-top-layers", "2",
    "--cache-frozen-layers",
    "--lora-r", "8", "--lora-alpha", "32", "--lora-dropout", "0.1", "--out", "runs/x", "--num-train-epochs", "3",
    "--max-steps", "100", "--learning-rate", "2e-5", "--lr-scheduler-type", "cosine", "--warmup-steps", "0.1",
    "--warmup-ratio", "0.2", "--weight-decay", "0.01", "--max-grad-norm", "0.5", "--optim", "adamw_torch",
    "--adam-beta1", "0.8", "--adam-beta2", "0.99", "--adam-epsilon", "1e-6", "--per-device-train-batch-size", "2",
    "--gradient-accumulation-steps", "4", "--logging-steps", "5", "--seed", "7", "--eval-steps", "20",
    "--save-steps", "50", "--save-total-limit", "2", "--no-group-by-length", "--report-to", "tensorboard", "wandb",
    "--resume", "runs/x/checkpoint-4", "--bf16", "--gradient-checkpointing", "--device", "cpu", "--threads", "2",
    "--eval-processbench", "pb", "--eval-processbench-limit", "7", "--push-to-hub", "--hub-model-id", "me/rm",
    "--packing", "off",
]


def _config_of(parser, namespace) -> dict:
    """Option name -> value for every option of `parser`, as a config file writes it."""
    values = {}
    for action in parser._actions:
        long = next((o for o in options.visible_options(action) if o.startswith("--")), None)
        if long in (None, "--help", "--config") or action.help == argparse.SUPPRESS:
            continue
        values[long[2:].replace("-", "_")] = getattr(namespace, action.dest)
    return values


def _parse_with_config(verb, argv):
    parser = build_verb_parser(verb)
    return parser.parse_args(options.apply_config(parser, options.normalize(parser, argv)))


def test_every_flag_of_train_round_trips_through_a_config_file(tmp_path):
    parser = build_verb_parser("train")
    covered = {parser._option_string_actions[t].dest for t in TRAIN_ARGV if t in parser._option_string_actions}
    every = {a.dest for a in parser._actions if a.option_strings and a.dest not in ("help", "config")}
    assert covered == every, f"TRAIN_ARGV misses {sorted(every - covered)}"
    direct = parser.parse_args(TRAIN_ARGV)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(_config_of(parser, direct), allow_unicode=True), encoding="utf-8")
    from_file = _parse_with_config("train", ["--config", str(config)])
    assert {k: v for k, v in vars(from_file).items() if k != "config"} == {
        k: v for k, v in vars(direct).items() if k != "config"}


def test_the_command_line_overrides_the_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("data: [a.jsonl]\nout: runs/a\nlearning-rate: 3e-4\nseed: 1\nbf16: true\n"
                      "max_grad_norm: 0.3\nalternatives: false\n")
    args = _parse_with_config("train", ["--config", str(config), "--seed", "9", "--out", "runs/b"])
    assert (args.seed, args.out, args.lr, args.bf16, args.max_grad_norm, args.alternatives) == (
        9, "runs/b", 3e-4, True, 0.3, False)
    # HfArgumentParser's spelling works on the command line too.
    assert _parse_with_config("train", ["--config", str(config), "--max_grad_norm", "2"]).max_grad_norm == 2.0
    # A subcommand's options; an exclusive pair: the command line's choice wins over the file's.
    (tmp_path / "eval.yaml").write_text("prm: runs/rm\nlimit: 5\nscorer_batch_size: 4\n")
    args = _parse_with_config("eval", ["auroc", "--config", str(tmp_path / "eval.yaml"), "--data", "d.jsonl"])
    assert (args.prm, args.limit, args.batch_size) == (["runs/rm"], 5, 4)
    (tmp_path / "label.yaml").write_text("data: gsm8k\nout: runs/l\n")
    args = _parse_with_config("label", ["--config", str(tmp_path / "label.yaml"), "--solutions", "s.jsonl"])
    assert (args.problems, args.solutions) == (None, "s.jsonl")


@pytest.mark.parametrize("content, expected", [
    ("learning_rat: 1e-5\n", "unknown key 'learning_rat'; did you mean learning_rate"),
    ("- a\n- b\n", "must be a mapping"),
    ("bf16: maybe\n", "is a switch"),
    ("seed: [1, 2]\n", "takes one value"),
    ("data: [\n", "not YAML"),
])
def test_a_bad_config_file_is_one_line_naming_the_key(content, expected, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    assert main(["train", "--config", str(config), "--data", "d.jsonl", "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("prm train: error: --config") and expected in error[0], error


def test_threads_default_leaves_the_busy_cores_alone(monkeypatch, caplog):
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(options, "_cpu_times", lambda: None)  # no /proc/stat: the 1-minute load
    monkeypatch.setattr(os, "getloadavg", lambda: (5.4, 1.0, 1.0))
    try:
        with caplog.at_level("INFO", logger="prm.cli"):
            assert options.resolve_threads(None) == 3  # 8 cores, ~5 busy
        assert torch.get_num_threads() == 3 and os.environ["OMP_NUM_THREADS"] == "3"
        assert "threads: 3 (load 5.4" in caplog.text
        # With /proc/stat: what is busy now, not a minute ago (a finished job no longer counts).
        samples = iter([(1000, 2000), (1150, 2200)])  # 150 of 200 jiffies idle: a quarter busy
        monkeypatch.setattr(options, "_cpu_times", lambda: next(samples))
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        monkeypatch.delenv("OMP_NUM_THREADS")
        with caplog.at_level("INFO", logger="prm.cli"):
            assert options.resolve_threads(None) == 6  # 8 cores, 2 busy now; the load average says 5.4
        assert "2.0 cores busy now" in caplog.text
        monkeypatch.setattr(options, "_cpu_times", lambda: None)
        monkeypatch.setattr(os, "getloadavg", lambda: (30.0, 1.0, 1.0))
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert options.resolve_threads(None) == 1  # never below one
        assert options.resolve_threads(2) == 2  # --threads wins
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
        assert options.resolve_threads(None) == 4  # a set OMP_NUM_THREADS is kept
    finally:
        torch.set_num_threads(before)


def test_device_auto_is_cuda_only_where_there_is_one(caplog):
    import torch

    with caplog.at_level("INFO", logger="prm.cli"):
        assert options.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert "device: " in caplog.text
    assert options.resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="--device"):
        options.resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.fixture
def offline_hub(monkeypatch):
    """datasets.load_dataset fails as it does offline; no model may load."""
    import datasets

    import prm.modeling.loading as loading

    calls = []

    def offline(name, *args, **kwargs):
        calls.append((name, args, kwargs))
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    def tripwire(*args, **kwargs):
        raise AssertionError("a model load was reached")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(loading, "load_causal_lm", tripwire)
    monkeypatch.setattr(wiring, "build_engine", tripwire)
    return calls


@pytest.mark.parametrize("argv, name, split", [
    (["train", "--data", "trl-lib/math_shepherd@train"], "trl-lib/math_shepherd", "train"),
    (["score", "--reward-model", "{t}", "--data", "peiyi9979/Math-Shepherd"], "peiyi9979/Math-Shepherd", None),
    (["search", "--data", "openai/gsm8k:main@test"], "openai/gsm8k", "test"),
    (["sft", "--data", "openai/gsm8k:main@train"], "openai/gsm8k", "train"),
    (["label", "--data", "HuggingFaceH4/MATH-500@test", "--engine", "simulated"], "HuggingFaceH4/MATH-500", "test"),
    (["eval", "auroc", "--prm", "{t}", "--data", "trl-lib/prm800k@test"], "trl-lib/prm800k", "test"),
    (["eval", "processbench", "--prm", "{t}", "--data", "Qwen/ProcessBench"], "Qwen/ProcessBench", "gsm8k"),
    (["data", "--data", "trl-lib/math_shepherd"], "trl-lib/math_shepherd", None),
])
def test_a_hub_name_goes_through_datasets_and_fails_offline_in_one_line(argv, name, split, offline_hub, tmp_path,
                                                                        capsys):
    argv = [a.replace("{t}", str(tmp_path)) for a in argv]
    if argv[0] not in ("data",):
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"prm {argv[0]}: error: hub:{name}"), error
    assert "Offline mode is on" in error[0] or "check the name" in error[0]
    assert offline_hub[0][0] == name and offline_hub[0][2].get("split") == split
    assert not (tmp_path / "out").exists()


def test_out_is_a_folder_and_the_old_file_form_still_works(tmp_path, caplog):
    assert wiring.output_file(str(tmp_path / "runs"), "labels.jsonl") == str(tmp_path / "runs" / "labels.jsonl")
    with caplog.at_level("WARNING"):
        assert wiring.output_file(str(tmp_path / "x.jsonl"), "labels.jsonl") == str(tmp_path / "x.jsonl")
    assert "deprecated" in caplog.text
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(ValueError, match="names a folder"):
        wiring.output_file(str(tmp_path / "file.txt"), "labels.jsonl")


def test_grade_writes_verdicts_into_the_out_folder(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"gold": "1", "pred": "1"}) + "\n")
    assert main(["grade", "--data", str(pairs), "--out", str(tmp_path / "grades")]) == 0
    assert json.loads((tmp_path / "grades" / "verdicts.jsonl").read_text())["verdict"] == "correct"


def test_training_arguments_fields_reach_the_trainer_by_their_own_names(tmp_path):
    from prm.cli import sft, train

    names = ["--max-grad-norm", "0.3", "--optim", "adamw_torch", "--lr-scheduler-type", "cosine",
             "--warmup-ratio", "0.1", "--weight-decay", "0.01", "--gradient-accumulation-steps", "2",
             "--logging-steps", "3", "--adam-beta2", "0.95", "--device", "cpu"]
    args = build_verb_parser("train").parse_args(
        ["--data", "d.jsonl", "--out", str(tmp_path / "o"), "--eval-steps", "7", "--save-steps", "9", *names])
    arguments = train._config(args).training_arguments(has_eval=True)
    assert (arguments.max_grad_norm, arguments.optim, arguments.lr_scheduler_type, arguments.warmup_steps,
            arguments.weight_decay, arguments.gradient_accumulation_steps, arguments.logging_steps,
            arguments.adam_beta2, arguments.eval_steps, arguments.save_steps, arguments.use_cpu) == (
        0.3, "adamw_torch", "cosine", 0.1, 0.01, 2, 3, 0.95, 7, 9, True)
    args = build_verb_parser("sft").parse_args(["--data", "d.jsonl", "--out", "o", "--max-steps", "5", *names])
    extra = sft._sft_config(args).extra_args
    assert {k: extra[k] for k in ("max_grad_norm", "optim", "lr_scheduler_type", "warmup_steps", "weight_decay",
                                  "gradient_accumulation_steps", "adam_beta2", "max_steps", "use_cpu")} == {
        "max_grad_norm": 0.3, "optim": "adamw_torch", "lr_scheduler_type": "cosine", "warmup_steps": 0.1,
        "weight_decay": 0.01, "gradient_accumulation_steps": 2, "adam_beta2": 0.95, "max_steps": 5, "use_cpu": True}
