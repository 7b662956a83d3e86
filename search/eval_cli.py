"""`prm eval processbench|auroc`: ProcessBench F1 and step-level AUROC of a PRM.

Public: `add_arguments(parser)`, `run(args) -> int`, `score_solutions(scorer, solutions, ...)`.

`prm eval processbench --prm DIR [--data DIR] [--threshold T]` scores every step of the four
ProcessBench subsets, tunes the threshold on the GSM8K subset only (unless --threshold is
given), and prints per subset the accuracy on erroneous and on correct cases, their F1, and the
unweighted average F1. `prm eval auroc --prm DIR --data FILE` gives the AUROC of step scores
against step labels (PRM800K-style files, any format `prm.data.load_stepwise` reads).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from prm.records import StepwiseSolution
from search.auroc import distinct_step_labels, step_auroc
from search.processbench import SUBSETS, processbench_report

log = logging.getLogger("prm.eval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    bench = sub.add_parser("processbench", help="ProcessBench F1 per subset and on average")
    bench.add_argument("--data", default="../shared/data/processbench", help="folder with <subset>.json")
    bench.add_argument("--subsets", nargs="+", default=list(SUBSETS), choices=SUBSETS)
    bench.add_argument("--threshold", type=float, default=None, help="fixed threshold (default: tune on gsm8k)")
    auroc = sub.add_parser("auroc", help="step-level AUROC against step labels")
    auroc.add_argument("--data", required=True, help="a step-labelled file (PRM800K, Math-Shepherd, TRL, ...)")
    auroc.add_argument("--format", default=None, help="reader name (default: detected from the first row)")
    auroc.add_argument(
        "--alternatives", action=argparse.BooleanOptionalAction, default=None,
        help="PRM800K: also score every rated, non-chosen candidate step (default: on; most of "
        "the bad steps are those)",
    )
    auroc.add_argument(
        "--every-step", action="store_true",
        help="count a step once per record that holds it (default: once per distinct prompt+prefix; "
        "PRM800K alternatives repeat their conversation's chosen prefix many times)",
    )
    for command in (bench, auroc):
        command.add_argument("--prm", required=True, help="reward-model folder (step head)")
        command.add_argument("--device", default="cpu")
        command.add_argument("--limit", type=int, default=None, help="first N solutions per file")
        command.add_argument("--batch-size", type=int, default=32, help="solutions per scorer call")
        command.add_argument("--out", default=None, help="write the report as JSON here")


def run(args: argparse.Namespace) -> int:
    from search import wiring

    scorer, _ = wiring.load_scorers(args.prm, None, args.device)
    start = time.perf_counter()
    report = _processbench(args, scorer) if args.what == "processbench" else _auroc(args, scorer)
    report["seconds"] = time.perf_counter() - start
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log.info("wrote %s", args.out)
    return 0


def score_solutions(
    scorer: Any, solutions: Sequence[StepwiseSolution], batch_size: int = 32, description: str = "scoring"
) -> list[list[float]]:
    """Step scores for every solution, batch_size solutions per scorer call."""
    from search import wiring

    scores: list[list[float]] = []
    with wiring.progress(len(solutions), description) as advance:
        for start in range(0, len(solutions), batch_size):
            batch = solutions[start : start + batch_size]
            scores.extend(scorer.score_steps([s.prompt for s in batch], [list(s.steps) for s in batch]))
            advance(len(scores))
    return scores


def _processbench(args: argparse.Namespace, scorer: Any) -> dict[str, Any]:
    from prm.data import read_processbench

    if args.threshold is None and "gsm8k" not in args.subsets:
        raise SystemExit("prm eval processbench: tuning needs the gsm8k subset; add it or pass --threshold")
    subsets = {}
    for name in args.subsets:
        path = Path(args.data) / f"{name}.json"
        if not path.is_file():
            raise SystemExit(f"prm eval processbench: {path} not found; point --data at the ProcessBench folder")
        solutions = read_processbench(path)[: args.limit]
        labels = [int(s.meta["label"]) for s in solutions]
        subsets[name] = (score_solutions(scorer, solutions, args.batch_size, name), labels)
    report = processbench_report(subsets, threshold=args.threshold)
    source = f"tuned on {report['tuned_on']}" if report["tuned_on"] else "fixed"
    print(f"threshold {report['threshold']:.4f} ({source})")
    print(f"{'subset':<14} {'error acc':>9} {'correct acc':>11} {'F1':>6} {'n_err':>6} {'n_ok':>5}")
    for name, score in report["subsets"].items():
        print(
            f"{name:<14} {score['error_accuracy']:9.1f} {score['correct_accuracy']:11.1f} "
            f"{score['f1']:6.1f} {score['num_error']:6d} {score['num_correct']:5d}"
        )
    print(f"{'average F1':<14} {report['average_f1']:28.1f}")
    return report


def _auroc(args: argparse.Namespace, scorer: Any) -> dict[str, Any]:
    from prm.data import load_stepwise

    policy = {} if args.alternatives is None else {"alternatives": args.alternatives}
    solutions = [s for s in load_stepwise(args.data, format=args.format, **policy) if s.labels is not None]
    solutions = solutions[: args.limit]
    if not solutions:
        raise SystemExit(f"prm eval auroc: {args.data} has no step-labelled solutions")
    scores = score_solutions(scorer, solutions, args.batch_size, "auroc")
    labels = [s.labels for s in solutions] if args.every_step else distinct_step_labels(solutions)
    value, steps = step_auroc(scores, labels)
    counted = "record steps" if args.every_step else "distinct labelled steps"
    print(f"step AUROC {value:.4f} over {steps} {counted} of {len(solutions)} solutions")
    return {"auroc": value, "steps": steps, "distinct_steps": not args.every_step,
            "solutions": len(solutions), "data": args.data}
