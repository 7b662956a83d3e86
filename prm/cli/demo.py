"""`prm demo`: the whole loop on the embedded default model, on a CPU, into one folder.

Public: `add_arguments(parser)`, `run(args) -> int`.

Stages (each prints what it does; every flag scales a stage up for real runs):
1. warm-up: the embedded SmolLM2-135M cannot do the synthetic arithmetic (~5-10% right), so it
   is fine-tuned on reference solutions (the Trainer machinery of `prm.sft`); accuracy on
   held-out problems is measured before and after;
2. `prm label`: K solutions per problem from that policy, steps labelled by Monte Carlo
   rollouts (binary search with early stop by default); also a few GSM8K problems when the
   shared data is there;
3. `prm train`: a PRM (step head) and an ORM (outcome head) on one backbone (joint objective),
   fitted to the labels by the top 8 layers with the frozen ones cached (the loop's recipe);
4. `prm search`: best-of-n (majority, weighted, PRM, ORM, pass@n) and step-level beam search on
   held-out problems, plus an oracle PRM that knows each step's exact truth;
5. a table of all of it, and how close the Monte Carlo labels came to the exact step truth.
Stages 2-4 run the real `prm` subcommands in this process, and the commands are printed, so
each can be rerun or scaled by hand. Labeling resumes if the demo is run again into the same
folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import time
from pathlib import Path
from typing import Any

from prm.atomic import atomic_write
from prm.cli import options, wiring
from prm.errors import OptionError

log = logging.getLogger("prm.demo")

# Short on purpose: on a CPU every prompt token is paid for in fine-tuning, sampling and rollouts.
DEMO_TEMPLATE = "Question: {question}\n\nStep-by-step solution:\n\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder for every artifact")
    parser.add_argument("--data-root", dest="data", default="../shared/data",
                        help="shared data folder (holding gsm8k/, for a best-of-n look at GSM8K)")
    parser.add_argument("--backbone", dest="model", default="embedded",
                        help="what the policy and the reward model are trained from")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    options.add_compute(parser)
    parser.add_argument("--engine", choices=options.GENERATING_ENGINES, default="transformers",
                        help="generation engine of the label and search stages (the warm-up samples in memory)")
    task = parser.add_argument_group("synthetic task")
    task.add_argument("--min-ops", type=int, default=1, help="fewest operations per problem")
    task.add_argument("--max-ops", type=int, default=2, help="most operations per problem")
    task.add_argument("--max-operand", type=int, default=9, help="largest operand")
    sizes = parser.add_argument_group("stage sizes")
    sizes.add_argument("--sft-problems", type=int, default=256, help="warm-up fine-tuning problems")
    sizes.add_argument("--sft-epochs", type=float, default=1.0, help="warm-up passes over its problems")
    sizes.add_argument("--sft-lr", type=float, default=2e-4, help="warm-up learning rate")
    sizes.add_argument("--eval-problems", type=int, default=24, help="held-out problems for before/after accuracy")
    sizes.add_argument("--label-problems", type=int, default=64, help="problems to sample and label")
    sizes.add_argument("--samples", type=int, default=4, help="solutions per labelled problem (K)")
    sizes.add_argument("--rollouts", type=int, default=4, help="rollouts per estimated prefix (N)")
    sizes.add_argument("--label-method", default="binary_search", choices=("binary_search", "math_shepherd"),
                       help="how steps are labelled from rollouts")
    sizes.add_argument("--gsm8k-problems", type=int, default=4, help="GSM8K test problems for a best-of-n look (0: skip)")
    # The reward-model defaults are the recipe the loop chose on its validation split
    # (benchmarks/loop_synthetic.sh and loop_followup.sh, BENCHMARKS.md): fit the labels with the
    # top layers (the frozen ones cached), and vote with the mean step score.
    sizes.add_argument("--rm-epochs", type=float, default=6.0, help="reward-model passes over the labels")
    sizes.add_argument("--rm-lr", type=float, default=1e-4, help="reward-model learning rate")
    sizes.add_argument("--rm-head-lr", type=float, default=1e-3, help="reward-model learning rate of the new heads")
    sizes.add_argument("--rm-top-layers", type=int, default=8,
                       help="train the reward model's heads and top K layers only, the frozen ones cached "
                            "(0: every weight)")
    sizes.add_argument("--aggregation", default="mean", choices=("min", "prod", "last", "mean"),
                       help="how PRM step scores make a solution score (best-of-n, weighted vote, beam)")
    sizes.add_argument("--search-problems", type=int, default=64, help="held-out problems to rerank and search")
    sizes.add_argument("--n", type=int, default=8, help="best-of-n samples; beam candidates per step")
    sizes.add_argument("--beam-width", type=int, default=2, help="M paths kept per problem in beam search")
    sizes.add_argument("--max-new-tokens", type=int, default=64, help="per solution or rollout")
    options.deprecate(parser, "--model", "--backbone")
    options.deprecate(parser, "--data", "--data-root")


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "demo.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    started = time.perf_counter()
    report: dict[str, Any] = {"out": str(out), "options": vars(args), "stages": {}}
    print(f"prm demo: every artifact goes to {out}")

    problems = _write_problems(args, out)
    report["stages"]["warmup"] = _warm_up(args, out, problems)
    _stage(report, "label", _label, args, out)
    _stage(report, "train", _train, args, out)
    _stage(report, "search", _search, args, out)
    _stage(report, "greedy", _greedy, args, out)
    report["gsm8k"] = _gsm8k(args, out)
    report["label_quality"] = _label_quality(out, problems["label"])
    report["oracle"] = _oracle(out / "search" / "bon.jsonl", problems["search"])
    report["seconds"] = time.perf_counter() - started
    table = _table(report)
    atomic_write(out / "table.md", table + "\n")
    atomic_write(out / "demo.json", json.dumps(report, indent=2, default=str) + "\n")
    print("\n" + table)
    print(f"\nAll artifacts in {out} (demo.json, table.md, policy/, labels.jsonl, rm/, search/); "
          f"{report['seconds'] / 60:.1f} min in all")
    return 0


def _check_options(args) -> None:
    """Every option checked before the output folder or a model is touched."""
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"--data-root {args.data}: no such folder; point it at the shared data (holding gsm8k/)")
    wiring.check_at_least(args, 1, "min_ops", "max_ops", "max_operand", "sft_problems", "eval_problems",
                          "label_problems", "samples", "rollouts", "search_problems", "n", "beam_width",
                          "max_new_tokens")
    wiring.check_at_least(args, 0, "gsm8k_problems", "rm_top_layers")
    wiring.check_positive(args, "sft_epochs", "sft_lr", "rm_epochs", "rm_lr", "rm_head_lr")
    if args.max_ops < args.min_ops:
        raise OptionError("--max-ops", f"is below --min-ops {args.min_ops}", "raise --max-ops", args.max_ops)


# ---------------------------------------------------------------------------- stages
def _write_problems(args, out: Path) -> dict[str, list]:
    """Disjoint synthetic sets: fine-tuning, labeling, held-out evaluation and search."""
    from prm.data import write_problems
    from prm.data.synthetic import SyntheticConfig, make_problems

    config = SyntheticConfig(num_steps=(args.min_ops, args.max_ops), max_operand=args.max_operand, seed=args.seed)
    sizes = {"sft": args.sft_problems, "label": args.label_problems, "eval": args.eval_problems, "search": args.search_problems}
    problems, start = {}, 0
    for name, size in sizes.items():
        problems[name] = make_problems(size, config, start=start)
        start += size
        write_problems(problems[name], out / f"problems_{name}.jsonl")
    return problems


def _warm_up(args, out: Path, problems) -> dict[str, Any]:
    from prm.cli.sft import sample_accuracy
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig
    from prm.engines.prompts import resolve_template
    from prm.modeling.loading import load_causal_lm
    from prm.sft import SFTConfig, finetune_policy
    from prm.steps import STEP_FORMATS

    step_format = STEP_FORMATS["default"]  # the synthetic task's reference solutions are in it
    policy_dir = out / "policy"
    if (policy_dir / "warmup.json").exists():
        print(f"[1/4] warm-up: reusing the fine-tuned policy in {policy_dir}")
        return json.loads((policy_dir / "warmup.json").read_text())
    print(f"[1/4] warm-up: fine-tune {args.model} on {len(problems['sft'])} synthetic reference solutions")
    model, tokenizer = load_causal_lm(args.model, device=args.device)
    template = resolve_template(tokenizer, DEMO_TEMPLATE, chat=False)
    engine = TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=64))
    before = sample_accuracy(engine, problems["eval"], template, step_format, args.max_new_tokens)
    print(f"      accuracy before: {100 * before:.1f}% of {len(problems['eval'])} held-out problems (1 sample each, T=0.7)")
    started = time.perf_counter()
    model.train()
    metrics = finetune_policy(
        model, tokenizer, problems["sft"], str(out / "sft_checkpoints"),
        SFTConfig(epochs=args.sft_epochs, learning_rate=args.sft_lr, batch_size=8, seed=args.seed,
                  extra_args={"use_cpu": args.device == "cpu"}), template,
        step_format,
    )
    seconds = time.perf_counter() - started
    after = sample_accuracy(engine, problems["eval"], template, step_format, args.max_new_tokens)
    print(f"      accuracy after:  {100 * after:.1f}% ({seconds:.0f} s of fine-tuning)")
    model.save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    result = {"accuracy_before": before, "accuracy_after": after, "sft_seconds": seconds,
              "sft_loss": metrics.get("train_loss"), "eval_problems": len(problems["eval"])}
    atomic_write(policy_dir / "warmup.json", json.dumps(result, indent=2) + "\n")  # marks a finished warm-up
    return result


def _compute(args) -> list[str]:
    """The demo's resolved device and threads, for every stage it runs in this process."""
    return ["--device", args.device, "--threads", str(args.threads)]


def _label(args, out: Path) -> list[str]:
    argv = ["label", "--data", str(out / "problems_label.jsonl"), "--policy", str(out / "policy"),
            "--samples", str(args.samples), "--method", args.label_method, "--rollouts", str(args.rollouts),
            "--early-stop", "--max-new-tokens", str(args.max_new_tokens), "--prompt-template", DEMO_TEMPLATE,
            "--no-chat-template", "--out", str(out), "--pairs-out", str(out / "orm_pairs.jsonl"),
            "--engine", args.engine, *_compute(args)]
    if args.label_method == "binary_search":
        argv += ["--min-correct", "2"]
    return argv


def _train(args, out: Path) -> list[str]:
    argv = ["train", "--data", str(out / "labels.jsonl"), "--format", "trl_stepwise", "--backbone", str(out / "policy"),
            "--objective", "joint", "--num-train-epochs", str(args.rm_epochs), "--learning-rate", str(args.rm_lr),
            "--head-lr", str(args.rm_head_lr), "--per-device-train-batch-size", "16", "--max-length", "256",
            "--save-steps", "100000", "--seed", str(args.seed), "--out", str(out / "rm"), *_compute(args)]
    if args.rm_top_layers:
        argv += ["--train-top-layers", str(args.rm_top_layers), "--cache-frozen-layers"]
    return argv


def _search(args, out: Path) -> list[str]:
    return ["search", "--data", str(out / "problems_search.jsonl"), "--policy", str(out / "policy"),
            "--prm", str(out / "rm"), "--orm", str(out / "rm"), "--method", "bon", "beam",
            "--n", str(args.n), "--beam-width", str(args.beam_width), "--aggregation", args.aggregation,
            "--max-new-tokens", str(args.max_new_tokens), "--max-step-tokens", str(args.max_new_tokens),
            "--max-rounds", str(args.max_ops + 2), "--prompt-template", DEMO_TEMPLATE, "--no-chat-template",
            "--seed", str(args.seed), "--out", str(out / "search"), "--engine", args.engine, *_compute(args)]


def _greedy(args, out: Path) -> list[str]:
    """The policy's own greedy answer on the search problems (one sample at temperature 0)."""
    return ["search", "--data", str(out / "problems_search.jsonl"), "--policy", str(out / "policy"),
            "--method", "bon", "--n", "1", "--temperature", "0", "--max-new-tokens", str(args.max_new_tokens),
            "--prompt-template", DEMO_TEMPLATE, "--no-chat-template", "--seed", str(args.seed), "--no-plot",
            "--out", str(out / "greedy"), "--engine", args.engine, *_compute(args)]


_STAGE_NUMBER = {"label": 2, "train": 3, "search": 4, "greedy": 4}


def _stage(report, name, build_argv, args, out: Path) -> None:
    from prm.cli import main

    argv = build_argv(args, out)
    print(f"\n[{_STAGE_NUMBER[name]}/4] prm {' '.join(shlex.quote(a) for a in argv)}")
    started = time.perf_counter()
    code = main(argv)
    if code != 0:
        raise ValueError(f"stage '{name}' failed with exit code {code}; see {out / 'demo.log'}")
    report["stages"][name] = {"argv": ["prm", *argv], "seconds": time.perf_counter() - started}


def _gsm8k(args, out: Path) -> dict[str, Any]:
    """Best-of-n on a few GSM8K problems with the same policy, when the data is there."""
    from prm.cli import main

    data = Path(args.data) / "gsm8k" / "test.jsonl"
    if args.gsm8k_problems <= 0:
        return {"skipped": "--gsm8k-problems 0"}
    if not data.exists():
        print(f"\nGSM8K: skipped ({data} not found; pass --data-root)")
        return {"skipped": f"{data} not found"}
    argv = ["search", "--data", str(data), "--limit", str(args.gsm8k_problems), "--policy", str(out / "policy"),
            "--prm", str(out / "rm"), "--orm", str(out / "rm"), "--method", "bon", "--n", str(min(args.n, 4)),
            "--max-new-tokens", str(2 * args.max_new_tokens), "--prompt-template", DEMO_TEMPLATE,
            "--no-chat-template", "--seed", str(args.seed), "--no-plot", "--out", str(out / "search_gsm8k"),
            "--engine", args.engine, *_compute(args)]
    print(f"\n[GSM8K] prm {' '.join(shlex.quote(a) for a in argv)}")
    if main(argv) != 0:
        return {"failed": True}
    return json.loads((out / "search_gsm8k" / "summary.json").read_text())["methods"]["bon"]


def _label_quality(out: Path, problems) -> dict[str, Any]:
    """Monte Carlo labels against the synthetic task's exact step truth."""
    from prm.data.synthetic import step_truth
    from prm.records import StepwiseSolution

    by_id = {p.id: p for p in problems}
    agree = steps = exact_first_error = solutions = tokens = 0
    for line in (out / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        solution = StepwiseSolution.from_dict(row)
        problem = by_id.get(row.get("problem_id"))
        if problem is None or all(v is None for v in solution.labels or ()):
            continue  # unlabelled: its only rollouts hit the length limit or were ungradable
        truth = step_truth(problem, solution.steps)
        labelled = [(t, v) for t, v in zip(truth, solution.labels) if v is not None]
        agree += sum(t == (v >= 0.5) for t, v in labelled)
        steps += len(labelled)
        truth_first = next((i for i, t in enumerate(truth) if not t), -1)
        exact_first_error += truth_first == solution.first_error_index()
        solutions += 1
        tokens += row.get("rollout_tokens", 0)
    return {
        "solutions": solutions,
        "step_label_agreement": agree / steps if steps else None,
        "first_error_accuracy": exact_first_error / solutions if solutions else None,
        "rollout_tokens_per_solution": tokens / solutions if solutions else None,
    }


def _oracle(path: Path, problems) -> dict[str, Any]:
    """Best-of-n picked by the exact step truth: what a perfect PRM would reach on these samples."""
    from prm.data.synthetic import step_truth

    by_id = {p.id: p for p in problems}
    hits = total = 0
    for line in path.read_text().splitlines():
        row = json.loads(line)
        problem = by_id.get(row["problem_id"])
        if problem is None:
            continue
        total += 1
        best = max(row["candidates"], key=lambda c: (all(step_truth(problem, c["steps"])), c["finished"]), default=None)
        hits += bool(best and best["is_correct"])
    return {"accuracy": hits / total if total else None, "problems": total}


def _table(report: dict[str, Any]) -> str:
    summary = json.loads((Path(report["out"]) / "search" / "summary.json").read_text())
    greedy = json.loads((Path(report["out"]) / "greedy" / "summary.json").read_text())["methods"]["bon"]
    methods = summary["methods"]
    bon, beam = methods["bon"], methods.get("beam", {})
    n = bon["n"]
    aggregation = report["options"]["aggregation"]
    points = {(p["method"], p["k"]): p for p in summary["curves"]}
    differences = {d["method"]: d for d in summary.get("differences", []) if d["k"] == n}
    tokens = bon["generated_tokens_per_problem"]

    def interval(method):
        d = differences.get(method)
        return "-" if d is None else f"{100 * d['mean']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"

    beam_key = f"prm:{aggregation}"
    beam_difference = beam.get("minus_majority_at_n")
    rows = [
        ("policy alone, greedy (1 sample, T=0)", greedy["accuracy_at_n"]["pass"], "-", greedy["generated_tokens_per_problem"]),
        ("policy alone (1 sample, T=0.7; the k=1 point of the n samples)", points[("pass", 1)]["mean"], "-", tokens / n),
        (f"majority vote @{n}", points[("majority", n)]["mean"], "(baseline)", tokens),
        (f"weighted vote (PRM {aggregation}) @{n}", points[(f"weighted:prm:{aggregation}", n)]["mean"],
         interval(f"weighted:prm:{aggregation}"), tokens),
        (f"ORM best-of-{n}", points[("rm:orm", n)]["mean"], interval("rm:orm"), tokens),
        (f"PRM best-of-{n} ({aggregation})", points[(f"rm:prm:{aggregation}", n)]["mean"],
         interval(f"rm:prm:{aggregation}"), tokens),
        (f"PRM beam search (M={report['options']['beam_width']}, N={n})", beam.get("accuracy", {}).get(beam_key),
         "-" if not beam_difference else f"{100 * beam_difference['mean']:+.1f} [{100 * beam_difference['ci95'][0]:+.1f}, "
         f"{100 * beam_difference['ci95'][1]:+.1f}]", beam.get("generated_tokens_per_problem")),
        (f"oracle PRM (exact step truth) best-of-{n}", report["oracle"]["accuracy"], "-", tokens),
        (f"pass@{n} (oracle)", points[("pass", n)]["mean"], "-", tokens),
    ]
    lines = [f"Held-out synthetic problems: {report['oracle']['problems']}, n = {n} samples each (the same samples "
             "for every rule)", "",
             "| method | accuracy | vs majority vote, points [paired 95% CI] | generated tokens / problem |",
             "|---|---:|---:|---:|"]
    for name, value, versus, spent in rows:
        shown = "-" if value is None else f"{100 * value:.1f}%"
        shown_tokens = "-" if spent is None else f"{spent:.0f}"
        lines.append(f"| {name} | {shown} | {versus} | {shown_tokens} |")
    lines += ["", "CI: bootstrap over problems (each keeps its own samples), 10,000 resamples; an interval that "
              "holds 0 means the gain is not distinguishable from luck on this many problems."]
    quality = report["label_quality"]
    if quality.get("step_label_agreement") is not None:
        lines += ["", f"Monte Carlo step labels vs exact truth ({quality['solutions']} solutions): "
                  f"{100 * quality['step_label_agreement']:.1f}% of step labels agree, first error right in "
                  f"{100 * quality['first_error_accuracy']:.1f}%, {quality['rollout_tokens_per_solution']:.0f} rollout tokens/solution"]
    gsm8k = report["gsm8k"]
    if "accuracy_at_n" in gsm8k:
        g = gsm8k["accuracy_at_n"]
        lines += ["", f"GSM8K test (first {report['options']['gsm8k_problems']} problems, n={gsm8k['n']}): "
                  f"majority {100 * g['majority']:.0f}%, PRM best-of-n {100 * g.get(f'rm:prm:{aggregation}', 0):.0f}%, "
                  f"pass@n {100 * g['pass']:.0f}%"]
    else:
        lines += ["", f"GSM8K: {gsm8k.get('skipped', 'failed')}"]
    return "\n".join(lines)
