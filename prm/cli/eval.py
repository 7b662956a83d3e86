"""`prm eval processbench|auroc|labels|truth|overoptimization|calibration`: how good a PRM is.

Public: `add_arguments(parser)`, `run(args) -> int`, `score_solutions(scorer, solutions, ...)`,
`read_problem_files(paths)`, `read_processbench_sample(folder, subsets, limit, seed)`,
`add_scorer_arguments(command, required)`.

`prm eval processbench --prm DIR [--data DIR] [--threshold T]` scores every step of the four
ProcessBench subsets, tunes the threshold on the GSM8K subset only (unless --threshold is
given), and prints per subset the accuracy on erroneous and on correct cases, their F1, and the
unweighted average F1 (with --out R.json, also the per-case predictions as R.predictions.csv).
`prm eval auroc --prm DIR --data FILE` gives the AUROC of step scores
against step labels (PRM800K-style files, any format `prm.data.load_stepwise` reads). Both
take several --prm folders as an ensemble (--ensemble mean|min|mean_std, per step). `labels` and
`truth` judge labels and scored samples against the synthetic task's exact step truth (`truth`
adds each score key's length bias); `overoptimization` and `calibration` live in
`prm.cli.eval_diagnostics`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from prm.atomic import atomic_write
from prm.cli import eval_diagnostics, options, wiring
from prm.records import StepwiseSolution
from prm.scores import score_steps_in_batches
from search.auroc import distinct_step_labels, step_auroc
from search.processbench import SUBSETS, processbench_report, stratified_subset

log = logging.getLogger("prm.eval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    bench = sub.add_parser("processbench", help="ProcessBench F1 per subset and on average")
    bench.add_argument("--data", default="processbench",
                       help="ProcessBench: a folder of <subset>.json, the named set processbench under --data-root, "
                            "or the hub dataset Qwen/ProcessBench")
    bench.add_argument("--data-root", default="../shared/data", help="folder holding processbench/")
    bench.add_argument("--subsets", nargs="+", default=list(SUBSETS), choices=SUBSETS)
    bench.add_argument("--threshold", type=float, default=None, help="fixed threshold (default: tune on gsm8k)")
    bench.add_argument("--seed", type=int, default=0, help="seed of the stratified --limit sample")
    auroc = sub.add_parser("auroc", help="step-level AUROC against step labels")
    auroc.add_argument("--data", required=True,
                       help=f"step-labelled solutions (PRM800K, Math-Shepherd, TRL, ...): {wiring.DATA_HELP} "
                            f"({', '.join(wiring.STEPWISE_NAMES)})")
    auroc.add_argument("--data-root", default="../shared/data", help="folder holding the named sets")
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
    labels = sub.add_parser("labels", help="step labels against the synthetic task's exact step truth")
    labels.add_argument("--labels", required=True, nargs="+", help="labelled solutions (prm label output)")
    labels.add_argument("--problems", required=True, nargs="+", help="the synthetic problem files they answer")
    truth = sub.add_parser("truth", help="scored synthetic samples against the exact step truth")
    truth.add_argument("--results", required=True, nargs="+", help="prm search result files (bon.jsonl, beam.jsonl)")
    truth.add_argument("--problems", required=True, nargs="+", help="the synthetic problem files they answer")
    truth.add_argument("--keys", nargs="+", default=["prm:min"], help="solution score keys to judge")
    for command in (labels, truth):
        command.add_argument("--out", default=None, help="output folder for the report (<what>.json)")
    eval_diagnostics.add_overoptimization(sub)
    eval_diagnostics.add_calibration(sub)
    for command in (bench, auroc):
        add_scorer_arguments(command, required=True)
        command.add_argument("--limit", type=int, default=None,
                             help="processbench: a seeded sample of N solutions per subset, stratified by "
                                  "erroneous/correct; auroc: the first N solutions")
        command.add_argument("--scorer-batch-size", dest="batch_size", type=int, default=32,
                             help="solutions per reward-model forward pass")
        command.add_argument("--out", default=None, help="output folder for the report (<what>.json)")
        options.deprecate(command, "--batch-size", "--scorer-batch-size")


def add_scorer_arguments(command: argparse.ArgumentParser, required: bool,
                         what: str = "reward-model folder (step head) or a public PRM's folder") -> None:
    """--prm (several: an ensemble, --ensemble/--ensemble-k), --prm-kind and --device."""
    command.add_argument("--prm", required=required, nargs="+", default=None, help=f"{what}; several: an ensemble")
    wiring.add_ensemble_arguments(command)
    command.add_argument("--prm-kind", default=None, choices=wiring.PRM_KINDS,
                         help="convention of the --prm folder (default: recognised from the folder)")
    options.add_compute(command)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.what in ("overoptimization", "calibration"):  # they write a folder of outputs themselves
        getattr(eval_diagnostics, args.what)(args)
        return 0
    if args.what in ("labels", "truth"):
        report = _labels(args) if args.what == "labels" else _truth(args)
    else:
        # The data is read (and checked) before the verifier is loaded: a bad file fails in a second.
        def load_scorer():
            return wiring.load_scorers(args.prm, None, args.device, prm_kind=args.prm_kind,
                                       ensemble=args.ensemble, ensemble_k=args.ensemble_k)[0]

        report = _processbench(args, load_scorer) if args.what == "processbench" else _auroc(args, load_scorer)
    report["seconds"] = time.perf_counter() - start
    if args.out:
        path = wiring.output_file(args.out, f"{args.what}.json")
        atomic_write(path, json.dumps(report, indent=2) + "\n")
        log.info("wrote %s", path)
    return 0


def score_solutions(
    scorer: Any, solutions: Sequence[StepwiseSolution], batch_size: int = 32, description: str = "scoring"
) -> list[list[float]]:
    """Step scores for every solution, batch_size solutions per scorer call, with a progress bar."""
    with wiring.progress(len(solutions), description, unit="solution") as advance:
        return score_steps_in_batches(scorer, solutions, batch_size, advance)


def _processbench(args: argparse.Namespace, load_scorer: Any) -> dict[str, Any]:
    if args.threshold is None and "gsm8k" not in args.subsets:
        raise ValueError("tuning the threshold needs the gsm8k subset: add it to --subsets or pass --threshold")
    chosen_solutions, sampled = read_processbench_sample(args.data, args.subsets, args.limit, args.seed,
                                                         args.data_root)
    subsets = {}
    scorer = load_scorer()
    for name, solutions in chosen_solutions.items():
        labels = [int(s.meta["label"]) for s in solutions]
        subsets[name] = (score_solutions(scorer, solutions, args.batch_size, name), labels)
    report = processbench_report(subsets, threshold=args.threshold)
    if args.out:  # the per-case table behind the report, beside it
        from prm.tables import write_table
        from search.processbench import predictions_frame

        ids = {name: [s.id for s in solutions] for name, solutions in chosen_solutions.items()}
        write_table(predictions_frame(subsets, report["threshold"], ids),
                    Path(wiring.output_file(args.out, f"{args.what}.json")).with_suffix(".predictions.csv"))
    report["sample"] = ({"kind": "all"} if args.limit is None else
                        {"kind": "stratified", "seed": args.seed, "limit": args.limit, "subsets": sampled})
    if args.limit is not None:
        print(f"sample: seeded (seed {args.seed}) stratified {args.limit} per subset, erroneous and correct "
              "in each file's proportion")
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


def _auroc(args: argparse.Namespace, load_scorer: Any) -> dict[str, Any]:
    policy = {} if args.alternatives is None else {"alternatives": args.alternatives}
    solutions = [s for s in wiring.load_stepwise(args.data, args.data_root, format=args.format, **policy)
                 if s.labels is not None]
    solutions = solutions[: args.limit]
    if not solutions:
        raise ValueError(f"{args.data} has no step-labelled solutions; step AUROC needs step labels")
    scores = score_solutions(load_scorer(), solutions, args.batch_size, "auroc")
    labels = [s.labels for s in solutions] if args.every_step else distinct_step_labels(solutions)
    value, steps = step_auroc(scores, labels)
    counted = "record steps" if args.every_step else "distinct labelled steps"
    print(f"step AUROC {value:.4f} over {steps} {counted} of {len(solutions)} solutions")
    return {"auroc": value, "steps": steps, "distinct_steps": not args.every_step,
            "solutions": len(solutions), "data": args.data}


def read_processbench_sample(data: str, names: Sequence[str], limit: int | None, seed: int,
                             data_root: str = "../shared/data") -> tuple[dict[str, list[StepwiseSolution]], dict[str, Any]]:
    """({subset: its solutions, a seeded stratified `limit` of them}, {subset: sample sizes});
    `data` as `wiring.load_processbench` takes it (a folder, the named set, a hub name)."""
    sampled, chosen_solutions = {}, {}
    for name, solutions in wiring.load_processbench(data, data_root, names).items():
        chosen = stratified_subset([int(s.meta["label"]) for s in solutions], limit, seed)
        if limit is not None:
            log.info("%s: a seeded stratified sample of %d of %d solutions (erroneous and correct in the "
                     "file's proportion)", name, len(chosen), len(solutions))
        sampled[name] = {"solutions": len(chosen), "of": len(solutions)}
        chosen_solutions[name] = [solutions[i] for i in chosen]
    return chosen_solutions, sampled


def read_problem_files(paths: Sequence[str]) -> list:
    """The problems of every file (`prm.data.read_problems`), in order."""
    from prm.data import read_problems

    return [p for path in paths for p in read_problems(path)]


def _labels(args: argparse.Namespace) -> dict[str, Any]:
    from prm.data.loading import load_stepwise
    from search.synthetic_eval import label_agreement

    problems = read_problem_files(args.problems)
    solutions = []
    for path in args.labels:
        read = load_stepwise(path, format="trl_stepwise")  # strict: a bad row names its file and line
        if not read:
            raise ValueError(f"--labels {path}: no labelled solutions in the file (write them with prm label)")
        solutions.extend(read)
    ids = [solution.meta.get("problem_id") for solution in solutions]
    report = label_agreement(problems, solutions, ids)
    report["data"] = list(args.labels)
    if report["step_label_agreement"] is None:
        print("no labelled solution of these problems")
    else:
        print(f"step labels vs exact truth over {report['solutions']} solutions ({report['labelled_steps']} steps): "
              f"{100 * report['step_label_agreement']:.1f}% agree, first error right in "
              f"{100 * report['first_error_accuracy']:.1f}%; truly good steps labelled good "
              f"{_percent(report['good_steps_labelled_good'])}, truly bad labelled bad {_percent(report['bad_steps_labelled_bad'])}")
    return report


def _truth(args: argparse.Namespace) -> dict[str, Any]:
    from search.candidates import read_jsonl
    from search.length_bias import results_length_bias
    from search.synthetic_eval import truth_report

    problems = read_problem_files(args.problems)
    report: dict[str, Any] = {}
    for path in args.results:
        results = read_jsonl(path)
        one = truth_report(problems, results, args.keys)
        try:
            one["length_bias"] = results_length_bias(results, args.keys)
        except ValueError as error:  # a key the samples have no scores for: truth_report says so per key
            one["length_bias"] = {"error": str(error)}
        report[str(path)] = one
        line = (f"{path}: {one['problems']} problems, oracle PRM {_percent(one['oracle_prm_accuracy'])}, "
                f"{one['unverifiable_steps']} of {one['steps']} steps unverifiable")
        if "step_auroc_vs_truth" in one:
            line += (f"; step AUROC vs exact truth {one['step_auroc_vs_truth']:.3f} "
                     f"(first errors only: {one['first_error_auroc_vs_truth']:.3f})")
        print(line)
        for key, figures in one["solution_keys"].items():
            misses = figures.get("best_of_n_misses")
            if misses and misses["picked_wrong"]:
                kinds = ", ".join(f"{kind} {count}" for kind, count in misses["first_error_kind"].items())
                print(f"  best-of-n by {key} picks a wrong sample in {misses['picked_wrong']} of the "
                      f"{misses['problems_with_a_right_sample']} problems with a right one; its first error: {kinds}; "
                      f"no other sample gives its answer in {misses['other_samples_with_the_picked_answer'].get('0', 0)}")
    return report


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
