"""PRM quality: train a step-level PRM on PRM800K, report held-out step AUROC and ProcessBench F1.

Usage:
  python benchmarks/bench_prm_quality.py [--model embedded|tiny|FOLDER] [--device cpu|cuda]
      [--train-records 48] [--max-length 384] [--max-steps 12] [--batch-size 4] [--lr 5e-5]
      [--heldout-solutions 16] [--processbench-per-subset 6] [--seed 0]
      [--out runs/bench_prm_quality.json]

What it does, in one process:
1. Reads `prm800k/phase1_test.stepwise-critic.jsonl` with `prm.data.load_stepwise` and the
   reader's default policy (alternatives on: the rejected candidates carry nearly all bad
   labels; neutral = good; unrated = no label). Splits by problem text: a seeded 20% of the
   distinct problems is held out, every record of a problem on the same side.
2. Draws `--train-records` training records from the train problems, half with a bad label
   among the steps that fit `--max-length` and half with good labels only (seeded), and
   `--heldout-solutions` held-out records the same way (no length cut: scoring reads whole
   solutions). ProcessBench: a seeded sample of N cases per subset, half erroneous and half
   correct (`all` or 0: the whole subset).
3. Wraps the backbone in a `RewardModel` (new step tag, heads at their seeded init) and measures
   the untrained model first: step AUROC on the held-out records and ProcessBench with the
   threshold tuned on the GSM8K sample. Then trains it with `prm.training.train` (objective
   `hard`, `--max-steps` optimizer steps) and measures the trained model the same way.
Step AUROC is over distinct held-out steps (a step = problem + steps up to it; the chosen prefix
that PRM800K alternative records repeat counts once); the AUROC over every record step, which
is what `prm eval auroc` counts, is reported next to it. The GSM8K F1 is in-sample for the
threshold; the other three subsets are not. Printed: a table; written: JSON (--out).
The budget (records, rows, tokens, optimizer steps, seconds) and each phase's wall time go in
both, with the machine's load average, since the CPU is shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import (  # noqa: E402
    parse_count,
    sample_balanced,
    sample_processbench,
    split_by_problem,
    split_summary,
)
from search.auroc import distinct_step_labels  # noqa: E402

log = logging.getLogger("bench_prm_quality")
PRM800K_FILE = "prm800k/phase1_test.stepwise-critic.jsonl"


def _arguments() -> argparse.ArgumentParser:
    from search.processbench import SUBSETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"), help="folder holding prm800k/ and processbench/")
    parser.add_argument("--model", default="embedded", help="backbone: 'embedded', 'tiny' (tests' 2-layer model), an HF folder or hub name")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="split, samples, head init order and training")
    parser.add_argument("--heldout-fraction", type=float, default=0.2, help="share of problems held out")
    budget = parser.add_argument_group("training budget")
    budget.add_argument("--train-records", type=parse_count, default=48, help="records drawn from the train problems ('all' or 0: every one)")
    budget.add_argument("--max-length", type=int, default=384, help="training tokens per record; whole trailing steps are cut")
    budget.add_argument("--max-steps", type=int, default=12, help="optimizer steps (<= 0: one epoch over the drawn records)")
    budget.add_argument("--batch-size", type=int, default=4)
    budget.add_argument("--grad-accum", type=int, default=1)
    budget.add_argument("--lr", type=float, default=5e-5, help="learning rate (fixed in advance, not tuned on test data)")
    budget.add_argument("--warmup-steps", type=float, default=0.1, help="steps, or a fraction of all steps if < 1")
    budget.add_argument("--bf16", action="store_true")
    evaluation = parser.add_argument_group("evaluation budget")
    evaluation.add_argument("--heldout-solutions", type=parse_count, default=16, help="held-out records scored for AUROC ('all' or 0: every one)")
    evaluation.add_argument("--processbench-per-subset", type=parse_count, default=6, help="cases per ProcessBench subset ('all' or 0: the whole subset)")
    evaluation.add_argument("--subsets", nargs="+", default=list(SUBSETS), choices=SUBSETS)
    evaluation.add_argument("--eval-batch-size", type=int, default=8, help="solutions per forward when scoring")
    parser.add_argument("--save-dir", default=None, help="keep the trained model here (default: a temporary folder, removed)")
    parser.add_argument("--out", default="runs/bench_prm_quality.json", help="JSON report")
    return parser


def _backbone(name: str, device: str):
    if name == "tiny":
        from prm.testing import tiny_causal_lm, tiny_tokenizer

        tokenizer = tiny_tokenizer()
        return tiny_causal_lm(tokenizer).to(device), tokenizer
    from prm.modeling.loading import load_causal_lm

    return load_causal_lm(name, device=device)


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _safe_auroc(scores: Sequence[Sequence[float]], labels: Sequence[Sequence[Any]]) -> dict[str, Any]:
    from search.auroc import step_auroc

    try:
        value, steps = step_auroc(scores, labels)
    except ValueError as error:  # one class only: a sample too small to measure
        return {"auroc": None, "steps": 0, "why_none": str(error)}
    good = sum(1 for row in labels for v in row if v is not None and v >= 0.5)
    return {"auroc": value, "steps": steps, "good": good, "bad": steps - good}


def _evaluate(scorer, heldout, processbench, batch_size: int, name: str) -> dict[str, Any]:
    """AUROC on the held-out records and ProcessBench (threshold tuned on gsm8k) for one model."""
    from prm.scores import score_steps_in_batches
    from search.processbench import processbench_report

    started = time.perf_counter()
    cut = {
        subset: sum(1 for e in scorer.encode([c.prompt for c in cases], [list(c.steps) for c in cases]) if e.dropped_steps)
        for subset, cases in {"prm800k_heldout": heldout, **processbench}.items()
    }
    scores = score_steps_in_batches(scorer, heldout, batch_size)
    auroc_seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "auroc_distinct": _safe_auroc(scores, distinct_step_labels(heldout)),
        "auroc_all_record_steps": _safe_auroc(scores, [r.labels for r in heldout]),
        "auroc_seconds": auroc_seconds,
        # Solutions longer than the model's positions: cut steps repeat the last score.
        "solutions_cut_to_fit": cut,
    }
    started = time.perf_counter()
    subsets = {
        subset: (score_steps_in_batches(scorer, cases, batch_size), [int(c.meta["label"]) for c in cases])
        for subset, cases in processbench.items()
    }
    result["processbench"] = processbench_report(subsets) if "gsm8k" in subsets else processbench_report(subsets, threshold=0.5)
    result["processbench_seconds"] = time.perf_counter() - started
    return result


def _tokens(encoded: Sequence[Any]) -> int:
    return sum(len(e.input_ids) for e in encoded)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(report: dict[str, Any]) -> str:
    base, trained = report["untrained"], report["trained"]
    rows: list[tuple[str, str, str]] = []
    for key, label in (("auroc_distinct", "held-out step AUROC (distinct steps)"), ("auroc_all_record_steps", "held-out step AUROC (every record step)")):
        rows.append((label, _fmt(base[key]["auroc"], 4), _fmt(trained[key]["auroc"], 4)))
    rows.append(("  steps scored (good / bad)", f"{base['auroc_distinct'].get('good', 0)} / {base['auroc_distinct'].get('bad', 0)}", ""))
    pb_base, pb_trained = base["processbench"], trained["processbench"]
    rows.append(("ProcessBench threshold (tuned on gsm8k)", _fmt(pb_base["threshold"], 4), _fmt(pb_trained["threshold"], 4)))
    for subset in pb_base["subsets"]:
        b, t = pb_base["subsets"][subset], pb_trained["subsets"][subset]
        n = f" (n={b['num_error']}+{b['num_correct']})"
        rows.append((f"{subset}{n} err acc / cor acc / F1",
                     f"{b['error_accuracy']:.1f} / {b['correct_accuracy']:.1f} / {b['f1']:.1f}",
                     f"{t['error_accuracy']:.1f} / {t['correct_accuracy']:.1f} / {t['f1']:.1f}"))
    rows.append(("ProcessBench average F1", _fmt(pb_base["average_f1"]), _fmt(pb_trained["average_f1"])))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'metric':<{width}}  {'untrained (heads at init)':>25}  {'trained':>22}"]
    lines += [f"{a:<{width}}  {b:>25}  {c:>22}" for a, b, c in rows]
    budget = report["budget"]
    lines.append(
        f"training budget: {budget['records']} records -> {budget['rows']} rows, {budget['optimizer_steps']} optimizer steps "
        f"x {budget['batch_size'] * budget['grad_accum']} rows ({budget['epochs']:.2f} epochs), ~{budget['tokens_seen']} tokens seen "
        f"(max_length {budget['max_length']}), {budget['train_seconds']:.0f} s, train loss {_fmt(budget['train_loss'], 4)}"
    )
    lines.append(f"model {report['model']} on {report['device']}, {report['threads']} threads; wall time {report['seconds']['total']:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch
    from transformers import set_seed

    from prm.data import load_stepwise, read_processbench
    from prm.modeling import RewardConfig, RewardModel
    from prm.scoring import PRMScorer
    from prm.steps import StepFormat
    from prm.training import ObjectiveConfig, TrainConfig, train

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    data_root = Path(args.data_root)
    prm800k_path = data_root / PRM800K_FILE
    if not prm800k_path.is_file():
        raise SystemExit(f"bench_prm_quality: {prm800k_path} not found; point --data-root at the shared data folder")
    records = [r for r in load_stepwise(prm800k_path, format="prm800k_critic") if r.labels is not None]
    train_all, heldout_all, train_problems, heldout_problems = split_by_problem(records, args.heldout_fraction, args.seed)
    processbench_all = {}
    for subset in args.subsets:
        path = data_root / "processbench" / f"{subset}.json"
        if not path.is_file():
            raise SystemExit(f"bench_prm_quality: {path} not found; point --data-root at the shared data folder")
        processbench_all[subset] = read_processbench(path)
    processbench = {s: sample_processbench(c, args.processbench_per_subset, args.seed) for s, c in processbench_all.items()}

    lap = time.perf_counter()
    lm, tokenizer = _backbone(args.model, args.device)
    step_format = StepFormat()
    # Heads at their seeded init and the new step tag: the untrained baseline.
    model = RewardModel.from_causal_lm(lm, tokenizer, RewardConfig(step_format=step_format))
    model.to(args.device)
    seconds["load_model"] = time.perf_counter() - lap
    tag_ids = step_format.tag_ids(tokenizer)

    def encode(record, max_length):
        return step_format.encode(tokenizer, record.prompt, list(record.steps), None, max_length, tag_ids)

    train_records = sample_balanced(train_all, args.train_records, args.seed, lambda r: encode(r, args.max_length).kept_steps)
    heldout = sample_balanced(heldout_all, args.heldout_solutions, args.seed, lambda r: len(r.steps))
    train_encoded = [encode(r, args.max_length) for r in train_records]
    kept_train = [r.labels[: e.kept_steps] for r, e in zip(train_records, train_encoded)]
    log.info("train sample: %d records, %d tokens at max_length %d", len(train_records), _tokens(train_encoded), args.max_length)

    lap = time.perf_counter()
    scorer = PRMScorer(model, tokenizer, batch_size=args.eval_batch_size, overflow="repeat_last")
    untrained = _evaluate(scorer, heldout, processbench, args.eval_batch_size, "untrained")
    seconds["evaluate_untrained"] = time.perf_counter() - lap

    lap = time.perf_counter()
    steps_per_epoch = -(-len(train_records) // (args.batch_size * args.grad_accum))
    with tempfile.TemporaryDirectory(prefix="bench-prm-quality-") as scratch:
        config = TrainConfig(
            output_dir=args.save_dir or scratch,
            objective=ObjectiveConfig("hard"),
            step_format=step_format,
            max_length=args.max_length,
            epochs=1.0,
            max_steps=args.max_steps if args.max_steps > 0 else -1,
            learning_rate=args.lr,
            warmup_steps=args.warmup_steps,
            batch_size=args.batch_size,
            gradient_accumulation_steps=args.grad_accum,
            seed=args.seed,
            logging_steps=max(1, (args.max_steps if args.max_steps > 0 else steps_per_epoch) // 8),
            save_steps=10**9,  # no intermediate checkpoints: only the final folder
            device="cpu" if args.device == "cpu" else "auto",
            bf16=args.bf16,
            show_progress=True,
        )
        result = train(config, train_records, model=model, tokenizer=tokenizer)
    seconds["train"] = time.perf_counter() - lap
    metrics = result.metrics
    rows = int(metrics["train_rows"])
    rows_per_step = args.batch_size * args.grad_accum
    optimizer_steps = args.max_steps if args.max_steps > 0 else -(-rows // rows_per_step)
    rows_seen = min(optimizer_steps * rows_per_step, rows) if args.max_steps <= 0 else optimizer_steps * rows_per_step
    budget = {
        "records": len(train_records),
        "rows": rows,
        "rows_tokens": _tokens(train_encoded),
        "kept_labels": {
            "good": sum(1 for row in kept_train for v in row if v is not None and v >= 0.5),
            "bad": sum(1 for row in kept_train for v in row if v is not None and v < 0.5),
        },
        "dropped_steps": int(metrics["train_dropped_steps"]),
        "max_length": args.max_length,
        "optimizer_steps": optimizer_steps,
        "batch_size": args.batch_size,
        "grad_accum": args.grad_accum,
        "epochs": rows_seen / rows if rows else 0.0,
        "tokens_seen": round(_tokens(train_encoded) * rows_seen / rows) if rows else 0,
        "learning_rate": args.lr,
        "train_loss": metrics.get("train_loss"),
        "train_seconds": float(metrics.get("train_runtime", seconds["train"])),
    }

    lap = time.perf_counter()
    trained_scorer = PRMScorer(result.model, tokenizer, batch_size=args.eval_batch_size, overflow="repeat_last")
    trained = _evaluate(trained_scorer, heldout, processbench, args.eval_batch_size, "trained")
    seconds["evaluate_trained"] = time.perf_counter() - lap
    seconds["total"] = time.perf_counter() - started

    report = {
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "args": vars(args),
        "model": args.model,
        "device": args.device,
        "threads": args.threads,
        "torch": torch.__version__,
        "load_average_end": _load_average(),
        "split": {
            "heldout_fraction": args.heldout_fraction,
            "train": split_summary(train_all),
            "heldout": split_summary(heldout_all),
            "train_sample": split_summary(train_records),
            "heldout_sample": split_summary(heldout),
            "heldout_problems_sample": len({r.prompt for r in heldout}),
        },
        "processbench_sample": {
            s: {"cases": len(c), "erroneous": sum(int(x.meta["label"]) >= 0 for x in c), "of": len(processbench_all[s])}
            for s, c in processbench.items()
        },
        "budget": budget,
        "untrained": untrained,
        "trained": trained,
        "seconds": seconds,
    }
    _print_splits(report)
    print(_table(report))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def _print_splits(report: dict[str, Any]) -> None:
    print(f"{'split':<14} {'problems':>8} {'records':>8} {'steps':>7} {'good':>6} {'bad':>5} {'none':>5} {'distinct good/bad':>18}")
    for name, summary in report["split"].items():
        if not isinstance(summary, dict):
            continue
        labels, distinct = summary["labels"], summary["distinct_labels"]
        print(
            f"{name:<14} {summary['problems']:8d} {summary['records']:8d} {summary['steps']:7d} {labels['good']:6d} "
            f"{labels['bad']:5d} {labels['unlabelled']:5d} {distinct['good']:>9d}/{distinct['bad']:<8d}"
        )
    for subset, sample in report["processbench_sample"].items():
        print(f"processbench {subset}: {sample['cases']} of {sample['of']} cases ({sample['erroneous']} erroneous)")


if __name__ == "__main__":
    sys.exit(main())
