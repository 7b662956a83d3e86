"""`prm eval overoptimization|calibration`: the diagnostics that keep a reward model honest.

Public: `add_overoptimization(sub)`, `add_calibration(sub)`, `overoptimization(args)`,
`calibration(args)` (called by `prm.cli.eval`).

`prm eval overoptimization --results [NAME=]bon.jsonl ... --problems val.jsonl --out DIR`: for
best-of-n by each proxy (score keys of each scoring of the same samples, ensembles of the
scorings, weak proxies), the proxy score and the exact gold correctness of the pick against
KL_bon = log n - (n-1)/n (`search.overoptimization`); writes DIR/overoptimization.csv, .json
(with the length bias of every proxy) and .png.

`prm eval calibration --out DIR` with any of `--processbench DIR` / `--data FILE` (a PRM scores
them: `--prm`) and `--results bon.jsonl --problems FILE` (stored step scores against the exact
synthetic truth): ECE, Brier score, reliability bins and the validation-to-test threshold
protocol per source (`search.calibration`); writes DIR/calibration.json and DIR/reliability.png.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from prm.atomic import atomic_write, atomic_writer
from prm.errors import OptionError

log = logging.getLogger("prm.eval")


def add_overoptimization(sub: Any) -> None:
    from prm.ensemble import COMBINATIONS
    from search.overoptimization import WEAK_PROXIES

    command = sub.add_parser("overoptimization", help="proxy vs exact gold reward of best-of-n picks against KL")
    command.add_argument("--results", required=True, nargs="+", metavar="[NAME=]FILE",
                         help="saved search results: the same samples (prm search bon.jsonl), each file scored by one reward model; "
                              "NAME names it in the proxies (default: r1, r2, ...)")
    command.add_argument("--problems", required=True, nargs="+", help="the synthetic problem files they answer")
    command.add_argument("--keys", nargs="+", default=["prm:last"], help="score keys, each a proxy per file")
    command.add_argument("--ensemble", nargs="+", default=[], choices=COMBINATIONS,
                         help="also ensembles that combine all --results files per key: mean, min, mean_std (mean - k std)")
    command.add_argument("--ensemble-k", type=float, default=1.0, help="k of mean_std (default 1.0)")
    command.add_argument("--weak", nargs="+", default=[], choices=WEAK_PROXIES,
                         help="deliberately weak proxies: neg_steps, neg_tokens, noisy (the first proxy + noise)")
    command.add_argument("--noise-sd", type=float, default=0.5, help="standard deviation of the noisy proxy's noise")
    command.add_argument("--n", type=int, nargs="+", default=None,
                         help="best-of-n subset sizes (default 1, 2, 4, ... up to the pool size)")
    command.add_argument("--bootstrap", type=int, default=10_000, help="problem resamples for the 95%% intervals")
    command.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the noisy proxy")
    command.add_argument("--plot-title", default=None, help="plot title")
    command.add_argument("--no-plot", action="store_true")
    command.add_argument("--out", required=True, help="output folder")


def add_calibration(sub: Any) -> None:
    from prm.cli.eval import add_scorer_arguments
    from search.processbench import SUBSETS

    command = sub.add_parser("calibration", help="reliability diagram and ECE of step probabilities")
    add_scorer_arguments(command, required=False, what="reward model that scores --processbench and --data steps")
    command.add_argument("--scorer-batch-size", dest="batch_size", type=int, default=32,
                         help="solutions per reward-model forward pass")
    command.add_argument("--processbench", default=None, help="ProcessBench folder (<subset>.json files)")
    command.add_argument("--subsets", nargs="+", default=list(SUBSETS), choices=SUBSETS)
    command.add_argument("--data", default=None, help="a step-labelled file, e.g. PRM800K held-out critic rows")
    command.add_argument("--format", default=None, help="reader of --data (default: detected from the first row)")
    command.add_argument("--limit", type=int, default=None,
                         help="processbench: a seeded stratified N per subset; data: the first N solutions")
    command.add_argument("--results", nargs="+", default=None,
                         help="saved search results of the synthetic task (prm search bon.jsonl): step scores vs the exact truth")
    command.add_argument("--problems", nargs="+", default=None, help="the synthetic problem files --results answer")
    command.add_argument("--bins", type=int, default=10, help="equal-width probability bins (default 10)")
    command.add_argument("--validation-fraction", type=float, default=0.5,
                         help="share of solutions the threshold is chosen on (the rest is the test split)")
    command.add_argument("--seed", type=int, default=0, help="seed of the split and the ProcessBench sample")
    command.add_argument("--plot-title", default=None, help="plot title")
    command.add_argument("--no-plot", action="store_true")
    command.add_argument("--out", required=True, help="output folder")


def _named_results(entries: list[str]) -> list[tuple[str, str]]:
    named = []
    for index, entry in enumerate(entries, start=1):
        name, sep, path = entry.partition("=")
        if not sep:
            name, path = f"r{index}", entry
        if not name or not path:
            raise OptionError("--results", "give FILE or NAME=FILE", value=entry)
        named.append((name, path))
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise OptionError("--results", "two files share a name", "give each NAME= once", " ".join(entries))
    return named


def overoptimization(args: argparse.Namespace) -> dict[str, Any]:
    from prm.cli import wiring
    from search import overoptimization as over
    from search.candidates import read_jsonl
    from search.length_bias import length_bias, undefined_as_none
    from search.synthetic_eval import gold_correctness

    named = _named_results(args.results)
    if args.ensemble and len(named) < 2:
        raise OptionError("--ensemble", "needs two or more --results files (scorings of the same samples)")
    wiring.check_at_least(args, 0, "ensemble_k")
    wiring.check_at_least(args, 1, "bootstrap")
    wiring.check_positive(args, "noise_sd")
    if args.n is not None and min(args.n) < 1:
        raise OptionError("--n", "sizes must be >= 1", value=args.n)
    from prm.cli.eval import read_problem_files

    problems = read_problem_files(args.problems)
    pools = over.align_pools([read_jsonl(path) for _, path in named])
    proxies: dict[str, Any] = {}
    for key in args.keys:
        for (name, _), pool in zip(named, pools):
            proxies[key if len(named) == 1 else f"{name}/{key}"] = over.score_key_proxy(pool, key)
        for how in args.ensemble:
            label = how if how != "mean_std" else f"mean-{args.ensemble_k:g}std"
            proxies[f"{label}({','.join(n for n, _ in named)})/{key}"] = over.ensemble_proxy(
                pools, key, how, args.ensemble_k)
    base_name = next(iter(proxies))
    for weak in args.weak:
        name = weak if weak != "noisy" else f"noisy(sd={args.noise_sd:g})/{base_name}"
        proxies[name] = over.weak_proxy(pools[0], weak, proxies[base_name], args.noise_sd, args.seed)
    gold = gold_correctness(problems, pools[0])
    report = over.overoptimization_curves(proxies, gold, args.n, args.bootstrap, seed=args.seed)
    payload = over.report_json(report)
    candidates = [c for r in pools[0] for c in r.candidates]
    payload["length_bias"] = {
        "lengths": "generated tokens",
        "correct": "final answer right",
        **undefined_as_none(length_bias(
            {name: [v for values in columns for v in values] for name, columns in proxies.items()},
            [c.num_tokens for c in candidates], [len(c.steps) for c in candidates],
            [bool(v) for values in gold["final_answer"] for v in values])),
    }
    payload["data"] = {name: path for name, path in named}
    out = Path(args.out)
    frame = over.curves_frame(report)
    with atomic_writer(out / "overoptimization.csv") as handle:
        frame.to_csv(handle, index=False)
    atomic_write(out / "overoptimization.json", json.dumps(payload, indent=2) + "\n")
    if not args.no_plot:
        title = args.plot_title or f"best-of-n overoptimization, {report.config['problems']} problems"
        over.plot_overoptimization(report, out / "overoptimization.png", title)
    _print_overoptimization(frame, payload["bends"])
    log.info("wrote %s", out)
    return payload


def _print_overoptimization(frame: Any, bends: dict[str, Any]) -> None:
    table = frame.pivot_table(index=["proxy", "n", "kl"], columns="measure", values="mean", sort=False)
    for column in table.columns:
        if column != "proxy":
            table[column] = (100 * table[column]).round(1)
    table = table.rename(columns={"proxy": "proxy score", "final_answer": "final answer %", "all_steps": "all steps %"})
    print(table.round(3).to_string())
    print("per proxy and n: its mean score and the gold accuracy of the best-of-n pick, exact over the "
          "n-subsets of each pool (kl = log n - (n-1)/n)")
    for name, bend in bends.get("final_answer", {}).items():
        verdict = "falls after it" if bend["falls"] else "no significant fall after it"
        print(f"{name}: final-answer gold peaks at n={bend['peak_n']} ({100 * bend['peak']:.1f}%), "
              f"{100 * bend['last']:.1f}% at n={bend['last_n']}: {verdict} "
              f"(peak - last {100 * bend['peak_minus_last']:+.1f} [{100 * bend['ci'][0]:+.1f}, "
              f"{100 * bend['ci'][1]:+.1f}])")


def calibration(args: argparse.Namespace) -> dict[str, Any]:
    from prm.cli import wiring
    from search.calibration import calibration_report, plot_reliability

    if not (args.processbench or args.data or args.results):
        raise OptionError("--processbench/--data/--results", "missing", "give at least one labelled source")
    if (args.processbench or args.data) and not args.prm:
        raise OptionError("--prm", "missing", "--processbench and --data are scored by a reward model: give --prm")
    if bool(args.results) != bool(args.problems):
        raise OptionError("--results", "goes with --problems (the exact synthetic truth needs the problems)")
    wiring.check_at_least(args, 1, "bins", "batch_size", "limit")
    if not 0 < args.validation_fraction < 1:
        raise OptionError("--validation-fraction", "must be in (0, 1)", value=args.validation_fraction)
    sources = _calibration_sources(args)  # (step scores or a function of the scorer, labels, counted)
    scorer = None
    if args.prm:
        scorer = wiring.load_scorers(args.prm, None, args.device, prm_kind=args.prm_kind, ensemble=args.ensemble,
                                     ensemble_k=args.ensemble_k)[0]
    reports = {}
    for name, (scores, labels, counted) in sources.items():
        if callable(scores):
            scores = scores(scorer)
        reports[name] = calibration_report(scores, labels, args.bins, args.validation_fraction, args.seed, counted)
    out = Path(args.out)
    payload = {"sources": reports, "bins": args.bins, "prm": args.prm,
               "labels": "steps up to and including each solution's first bad step"}
    atomic_write(out / "calibration.json", json.dumps(payload, indent=2) + "\n")
    if not args.no_plot:
        scored_by = " + ".join(args.prm) if args.prm else "stored scores"
        plot_reliability(reports, out / "reliability.png", args.plot_title or f"step calibration of {scored_by}")
    for name, report in reports.items():
        protocol = report["threshold_protocol"]
        line = (f"{name}: ECE {report['ece']:.3f}, Brier {report['brier']:.3f} over {report['steps']} steps "
                f"({report['bad_steps']} bad) of {report['solutions']} solutions")
        if protocol.get("threshold") is not None and protocol.get("test_balanced_accuracy") is not None:
            line += (f"; threshold {protocol['threshold']:.3f} chosen on validation: test balanced accuracy "
                     f"{100 * protocol['test_balanced_accuracy']:.1f}% (at 0.5: "
                     f"{100 * protocol['test_balanced_accuracy_at_0_5']:.1f}%)")
        print(line)
    log.info("wrote %s", out)
    return payload


def _calibration_sources(args: argparse.Namespace) -> dict[str, tuple[Any, Any, Any]]:
    """Every source read and checked before a model loads: name -> (scores, labels, counted)."""
    from prm.cli.eval import read_problem_files, read_processbench_sample, score_solutions

    sources: dict[str, tuple[Any, Any, Any]] = {}
    if args.processbench:
        chosen, _ = read_processbench_sample(args.processbench, args.subsets, args.limit, args.seed)
        solutions = [s for subset in chosen.values() for s in subset]
        sources["processbench"] = (lambda scorer: score_solutions(scorer, solutions, args.batch_size, "processbench"),
                                   [s.labels for s in solutions], None)
    if args.data:
        from prm.data import load_stepwise
        from search.auroc import distinct_step_labels

        labelled = [s for s in load_stepwise(args.data, format=args.format) if s.labels is not None][: args.limit]
        if not labelled:
            raise ValueError(f"--data {args.data}: no step-labelled solutions")
        counted = [[label is not None for label in labels] for labels in distinct_step_labels(labelled)]
        sources[Path(args.data).stem] = (lambda scorer: score_solutions(scorer, labelled, args.batch_size, "data"),
                                         [s.labels for s in labelled], counted)
    if args.results:
        from prm.data.synthetic_truth import step_truth
        from search.candidates import read_jsonl

        by_id = {p.id: p for p in read_problem_files(args.problems)}
        scores, truth = [], []
        for path in args.results:
            for result in read_jsonl(path):
                problem = by_id.get(result.problem_id)
                if problem is None:
                    raise ValueError(f"--results {path}: problem {result.problem_id!r} is not in --problems")
                for candidate in result.candidates:
                    if candidate.step_scores is None:
                        raise ValueError(f"--results {path}: samples without step scores; score them with "
                                         "prm search --results FILE --prm MODEL")
                    scores.append(list(candidate.step_scores))
                    truth.append(step_truth(problem, list(candidate.steps)))
        sources["synthetic_truth"] = (scores, truth, None)
    return sources
