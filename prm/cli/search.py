"""`prm search`: best-of-n and step-level beam search with reward models, with curves.

Public: `add_arguments(parser)`, `run(args) -> int`.

Writes to --out: `<method>.jsonl` (per-problem candidates, grades, scores, compute),
`curves.csv` (and `curves.parquet` where pyarrow is installed) / `summary.json` (bootstrap
accuracy-vs-k per selection rule, the beam-search results and the compute each method spent),
`outcomes.csv` (per problem and selection rule at n: the pick, its answer, whether it is
correct; `search.tables`), `accuracy_vs_k.png` and `accuracy_vs_tokens.png`;
and prints the accuracy table. `--results a.jsonl b.jsonl` skips generation and redraws the
curves from saved best-of-n rows: rows are per problem, so shards (`--shard i/n`) merge
exactly by listing (or concatenating) their `bon.jsonl` files. With --prm/--orm as well, the
saved samples are scored again by those models (a new verifier on the same samples, no
generation) and written to the new --out's `bon.jsonl`; --beam-results adds saved beam/DVTS runs
to the summary and to the accuracy-vs-tokens plot. The wiring (models, grader, data) lives in `prm.cli.wiring`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from prm.atomic import atomic_write
from prm.cli import options, wiring
from prm.engines.base import SamplingConfig
from prm.errors import OptionError
from prm.scores import AGGREGATIONS
from prm.steps import STEP_FORMATS
from prm.tables import parquet_available, write_table
from search.beam import BeamSearchConfig
from search.best_of_n import BestOfNConfig, group_candidates, score_candidates, scorer_passes, selection_accuracy
from search.candidates import ProblemCandidates, SearchSetup, candidate_score, read_jsonl, score_keys, write_jsonl
from search.curves import (
    CurveConfig,
    evaluate_curves,
    format_differences,
    format_table,
    paired_interval,
    write_curves_csv,
    write_curves_json,
)
from search.length_bias import results_length_bias
from search.methods import METHODS
from search.particle_filter import ParticleFilterConfig
from search.rebase import RebaseConfig
from search.tables import outcomes_frame
from search.voting import AnswerGrouper

log = logging.getLogger("prm.search")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", default=None,
                      help=f"problems: {', '.join(wiring.PROBLEM_NAMES)} (gsm8k, math500: test splits), or {wiring.DATA_HELP}")
    data.add_argument(
        "--results", nargs="+", default=None,
        help="skip generation: curves, table and plots from saved best-of-n result files (e.g. shards); "
             "with --prm/--orm, rescore their samples",
    )
    data.add_argument(
        "--beam-results", nargs="+", default=None,
        help="with --results: beam/dvts jsonl files to add to the summary and the accuracy-vs-tokens plot "
             "(give the --aggregation they were run with)",
    )
    data.add_argument("--data-root", default="../shared/data", help="folder holding gsm8k/ and math/")
    data.add_argument("--limit", type=int, default=None, help="first N problems only")
    data.add_argument("--shard", default=None, help="i/n: every n-th problem from the i-th (0-based)")
    models = parser.add_argument_group("models")
    models.add_argument("--policy", default="embedded", help="the generating model: a causal LM name or folder")
    models.add_argument("--prm", default=None, nargs="+",
                        help="reward-model folder whose step head scores steps; several: an ensemble (--ensemble)")
    models.add_argument("--prm-kind", default=None, choices=wiring.PRM_KINDS,
                        help="convention of the --prm folder: toolkit (written by `prm train`), math_shepherd "
                             "(P('+') at ' ки'), qwen_prm (2-class head at <extra_0>), rlhflow (P('+') in the assistant "
                             "turn after each step), skywork_prm (value head at the step token), label_token / "
                             "implicit (written by `prm train --objective ...`); default: recognised from "
                             "the folder")
    models.add_argument("--orm", default=None, nargs="+",
                        help="reward-model folder whose outcome head scores solutions; several: an ensemble")
    wiring.add_ensemble_arguments(models)
    options.add_compute(models)
    models.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=None,
                        help="wrap the prompt template in the policy's chat template (default: where it has one)")
    models.add_argument("--prompt-template", default=None,
                        help="policy prompt with {question} (default: prm.engines.prompts.DEFAULT_TEMPLATE)")
    options.add_engine(models)
    search = parser.add_argument_group("search")
    search.add_argument("--method", nargs="+", choices=list(METHODS), default=["bon"],
                        help="search.methods: bon (best-of-n), beam (step-level beam search), dvts, "
                             "particle_filter (particles resampled by PRM step scores), rebase (reward-balanced tree)")
    search.add_argument("--n", type=int, default=16, help="best-of-n: samples per problem")
    search.add_argument("--n-candidates", type=int, default=None,
                        help="beam, dvts: new steps sampled per round, N; rebase: solutions per problem "
                             "(default: --n)")
    search.add_argument("--beam-width", type=int, default=4, help="M paths kept per problem (beam, dvts)")
    search.add_argument("--particles", type=int, default=None, help="particle_filter: particles per problem (default: --n)")
    search.add_argument("--resample-temperature", type=float, default=1.0,
                        help="particle_filter: softmax temperature over the particles' last-step logits")
    search.add_argument("--balance-temperature", type=float, default=0.1,
                        help="rebase: softmax temperature over node rewards that splits the expansion budget")
    search.add_argument("--max-rounds", dest="max_steps", type=int, default=12,
                        help="rounds of a step-wise method (beam, dvts, particle_filter, rebase): one step each")
    search.add_argument("--max-step-tokens", type=int, default=128)
    search.add_argument("--max-tokens", type=int, default=None, help="beam-search token budget per problem")
    search.add_argument("--aggregation", default="last", choices=AGGREGATIONS, help="beam ranking")
    search.add_argument("--full-rescoring", action="store_true",
                        help="beam, dvts, particle_filter, rebase: read every new prefix whole instead of growing "
                             "the parent's KV cache by the new step (same scores; a toolkit --prm reuses by default)")
    search.add_argument("--step-format", default=None, choices=STEP_FORMATS,
                        help="how policy text splits into steps (default: the --prm folder's, recorded by prm train)")
    search.add_argument("--temperature", type=float, default=0.7)
    search.add_argument("--top-p", type=float, default=1.0)
    search.add_argument("--max-new-tokens", type=int, default=256, help="per best-of-n sample")
    search.add_argument("--problem-batch-size", type=int, default=16, help="problems per engine call")
    search.add_argument("--seed", type=int, default=0, help="random seed (the policy's sampling, the bootstrap)")
    out = parser.add_argument_group("output")
    out.add_argument("--draws", type=int, default=200,
                     help="subsets per problem for the vote estimators at 1 < k < n (pass@k and rm@k are exact)")
    out.add_argument("--bootstrap", type=int, default=10_000, help="problem resamples for the 95%% intervals")
    out.add_argument("--plot-methods", nargs="*", default=None,
                     help="rules drawn on the plots (default: pass, majority, weighted and best-of-n with "
                          "--aggregation, orm; 'all' for every rule)")
    out.add_argument("--out", default="runs/search", help="output folder")
    out.add_argument("--no-plot", action="store_true")
    out.add_argument("--plot-title", default=None,
                     help="plot title (default: the data, the policy folder's name and N)")
    options.deprecate(parser, "--max-steps", "--max-rounds")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)  # created only once there is something to write: a bad input leaves none
    if args.results:
        results = [row for path in args.results for row in read_jsonl(path)]
        log.info("%d problems from %s", len(results), ", ".join(args.results))
        compute = _rescore(args, out, results) if args.prm or args.orm else {}
        results = compute.pop("results", results)
        summary = {"data": args.results, "problems": len(results),
                   "methods": {"bon": _bon_compute(args, results, **compute)}}
        for path in args.beam_results or ():
            searched = read_jsonl(path)
            if not searched:
                raise OptionError("--beam-results", "holds no beam-search rows", "name a beam.jsonl or dvts.jsonl", path)
            name = _saved_run_name(searched[0].meta)
            summary["methods"][name] = _beam_compute(args, searched, seconds=None)
            summary["methods"][name]["results"] = str(path)
        _report(args, out, results, summary)
        return 0
    if args.beam_results:
        raise OptionError("--beam-results", "goes with --results (saved best-of-n samples)")
    if args.data is None:
        raise OptionError("--data", "missing", f"give --data ({', '.join(wiring.PROBLEM_NAMES)} or a file) or --results")
    wiring.check_at_least(args, 0, "temperature")
    wiring.check_at_least(args, 1, "limit", "engine_batch_size", "draws", "bootstrap")
    if args.shard is not None:
        wiring.parse_shard(args.shard)
    # Every method's config is built (and validated) before anything is sampled.
    configs = {name: _method_config(args, name) for name in METHODS if name in args.method}
    guided = [name for name in configs if METHODS[name].needs_scorer]
    if guided and args.prm is None:
        raise OptionError(f"--method {'/'.join(guided)}", "needs --prm (the PRM guides the search)")
    problems = wiring.load_problems(args.data, args.data_root, args.limit, args.shard, args.seed)
    log.info("%d problems from %s", len(problems), args.data)
    engine, prompt_for = wiring.build_policy(args)
    prm, orm = wiring.load_scorers(args.prm, args.orm, args.device, prm_kind=args.prm_kind,
                                  ensemble=args.ensemble, ensemble_k=args.ensemble_k)
    step_format = wiring.scorer_step_format(prm, args.step_format)
    summary: dict[str, Any] = {"data": args.data, "problems": len(problems), "methods": {},
                               "step_format": step_format.to_dict()}
    counter = wiring.scorer_token_counter(prm)
    with wiring.grader() as (extract_answer, grade):
        grouper = AnswerGrouper(grade)
        bon_results = None

        def setup(advance):
            return SearchSetup(prompt_for, extract_answer, grade, step_format, counter, advance,
                               reuse_scorer_states=not args.full_rescoring)

        for name, config in configs.items():
            results, seconds = _run_method(name, problems, engine, prm, config, setup)
            if name == "bon":
                results, scorer_tokens, score_seconds = _score(results, prm, orm)
                results = bon_results = group_candidates(results, grouper)
                compute = _bon_compute(args, results, scorer_tokens, seconds, score_seconds)
            else:
                results = group_candidates(results, grouper)
                compute = _beam_compute(args, results, seconds)
            write_jsonl(results, out / f"{name}.jsonl")
            summary["methods"][name] = compute
    _report(args, out, bon_results, summary)
    return 0


def _saved_run_name(meta: dict[str, Any]) -> str:
    """A saved search run's name in the summary: its method and width settings."""
    method = meta.get("method", "beam")
    if method == "particle_filter":
        return f"{method} P={meta.get('n_particles')}"
    if method == "rebase":
        return f"{method} N={meta.get('n_candidates')}"
    return f"{method} M={meta.get('beam_width')},N={meta.get('n_candidates')}"


def _sampling(args, n: int, max_new_tokens: int) -> SamplingConfig:
    """The policy's sampling from --temperature, --top-p and --seed, which every method shares."""
    return SamplingConfig(n=n, temperature=args.temperature, top_p=args.top_p, max_new_tokens=max_new_tokens, seed=args.seed)


def _method_config(args, name: str):
    """The config of method `name` from the options (its __post_init__ names a bad value)."""
    if name == "bon":
        return BestOfNConfig(_sampling(args, args.n, args.max_new_tokens), problem_batch_size=args.problem_batch_size)
    # n of a round-based method's sampling is set each round; --max-step-tokens bounds one step.
    rounds = {"max_steps": args.max_steps, "max_tokens": args.max_tokens, "aggregation": args.aggregation,
              "sampling": _sampling(args, 1, args.max_step_tokens), "problem_batch_size": args.problem_batch_size}
    if name == "particle_filter":
        return ParticleFilterConfig(
            n_particles=args.n if args.particles is None else args.particles,
            resample_temperature=args.resample_temperature, **rounds,
        )
    if name == "rebase":
        return RebaseConfig(n_candidates=_n_candidates(args), balance_temperature=args.balance_temperature, **rounds)
    return BeamSearchConfig(beam_width=args.beam_width, n_candidates=_n_candidates(args), **rounds)


def _n_candidates(args) -> int:
    return args.n if args.n_candidates is None else args.n_candidates


def _run_method(name: str, problems, engine, prm, config, setup) -> tuple[list[ProblemCandidates], float]:
    """METHODS[name].run under a progress bar: (results, seconds). setup(advance) -> SearchSetup."""
    with wiring.progress(len(problems), "sampling" if name == "bon" else name) as advance:
        start = time.perf_counter()
        results = METHODS[name].run(problems, engine, prm, config, setup(advance))
        return results, time.perf_counter() - start


def _score(results: list[ProblemCandidates], prm, orm) -> tuple[list[ProblemCandidates], int, float]:
    """(scored results, tokens the scorers read, seconds): each scorer pass counted once."""
    start = time.perf_counter()
    scored: list[ProblemCandidates] = []
    total = sum(len(r.candidates) for r in results)
    # A few hundred candidates per call: batches stay full, and the bar moves every call.
    chunk = max(1, 256 // max(1, max((len(r.candidates) for r in results), default=1)))
    with wiring.progress(total, "scoring", unit="solution") as advance:
        for first in range(0, len(results), chunk):
            scored += score_candidates(results[first : first + chunk], prm=prm, orm=orm)
            advance(sum(len(r.candidates) for r in scored))
    results = scored
    seconds = time.perf_counter() - start
    scorer_tokens = sum(wiring.count_scorer_tokens(s, results) for s in scorer_passes(prm, orm))
    return results, scorer_tokens, seconds


def _rescore(args, out: Path, results: list[ProblemCandidates]) -> dict[str, Any]:
    """Saved samples scored again with --prm/--orm (their old scores replaced), saved to bon.jsonl."""
    if any(Path(path).resolve() == (out / "bon.jsonl").resolve() for path in args.results):
        raise OptionError("--out", "would overwrite the --results file being rescored", "pick another --out")
    prm, orm = wiring.load_scorers(args.prm, args.orm, args.device, prm_kind=args.prm_kind,
                                  ensemble=args.ensemble, ensemble_k=args.ensemble_k)
    results, scorer_tokens, seconds = _score(results, prm, orm)
    write_jsonl(results, out / "bon.jsonl")
    return {"results": results, "scorer_tokens": scorer_tokens, "score_seconds": seconds}


def _bon_compute(args, results, scorer_tokens=0, sample_seconds=0.0, score_seconds=0.0) -> dict[str, Any]:
    keys = score_keys(results)
    return {
        "n": min((len(r.candidates) for r in results), default=0),
        "generated_tokens_per_problem": _per_problem(sum(r.generated_tokens for r in results), results),
        "scorer_tokens_per_problem": _per_problem(scorer_tokens, results),
        "generation_seconds": sample_seconds,
        "scoring_seconds": score_seconds,
        "verifier_auroc": _verifier_auroc(results, keys),
        "within_problem_auroc": _within_problem_auroc(results, keys),
        # Does a reward grow with length (generated tokens) or step count, given correctness?
        "length_bias": results_length_bias(results, keys),
        "accuracy_at_n": {
            "majority": selection_accuracy(results, "majority"),
            "pass": selection_accuracy(results, "pass"),
            **{f"rm:{k}": selection_accuracy(results, "rm", k) for k in keys},
            **{f"weighted:{k}": selection_accuracy(results, "weighted", k) for k in keys},
        },
    }


def _verifier_auroc(results: list[ProblemCandidates], keys: list[str]) -> dict[str, float | None]:
    """Per score key, the AUROC of solution scores against correctness, pooled over problems: does
    the verifier rank right solutions above wrong ones at all (None without both kinds)?"""
    from search.auroc import auroc

    candidates = [c for r in results for c in r.candidates]
    correct = [bool(c.is_correct) for c in candidates]
    if all(correct) or not any(correct):
        return {key: None for key in keys}
    return {key: auroc([candidate_score(c, key) for c in candidates], correct) for key in keys}


def _within_problem_auroc(results: list[ProblemCandidates], keys: list[str]) -> dict[str, Any]:
    """Per score key, the mean within-problem AUROC (problems with right and wrong samples)."""
    from search.auroc import within_problem_auroc

    report: dict[str, Any] = {}
    for key in keys:
        groups = [([candidate_score(c, key) for c in r.candidates], [bool(c.is_correct) for c in r.candidates])
                  for r in results]
        value, problems = within_problem_auroc(groups)
        report[key] = value
        report["problems"] = problems
    return report


def _beam_compute(args, results: list[ProblemCandidates], seconds: float | None) -> dict[str, Any]:
    meta = results[0].meta if results else {}
    aggregation = meta.get("aggregation", args.aggregation)
    key = f"prm:{aggregation}"
    return {
        "aggregation": aggregation,
        "beam_width": meta.get("beam_width", args.beam_width),
        "n_candidates": meta.get("n_candidates", _n_candidates(args)),
        "generated_tokens_per_problem": _per_problem(sum(r.generated_tokens for r in results), results),
        "scorer_tokens_per_problem": _per_problem(sum(r.meta.get("scorer_tokens", 0) for r in results), results),
        "scored_prefixes_per_problem": _per_problem(sum(r.meta.get("scored_prefixes", 0) for r in results), results),
        # Whether the scorer grew each prefix's KV cache; prefixes it still read whole.
        "scorer_state_reuse": any(r.meta.get("scorer_state_reuse", False) for r in results),
        "scorer_rereads_per_problem": _per_problem(sum(r.meta.get("scorer_rereads", 0) for r in results), results),
        "seconds": seconds,
        "problems_per_second": len(results) / seconds if seconds else None,
        "per_problem_hits": {
            r.problem_id: float(_picked_correct(r, key)) for r in results
        },
        "accuracy": {
            key: selection_accuracy(results, "rm", key),
            "majority": selection_accuracy(results, "majority"),
            f"weighted:{key}": selection_accuracy(results, "weighted", key),
            "pass": selection_accuracy(results, "pass"),
        },
    }


def _picked_correct(result: ProblemCandidates, key: str) -> bool:
    from search.best_of_n import select

    index = select(result, "rm", key)
    return index is not None and result.candidates[index].is_correct is True


def _per_problem(total: float, results: list[ProblemCandidates]) -> float:
    return total / len(results) if results else 0.0


def _report(args, out: Path, bon_results, summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    extra_points = []
    beams = {}
    for method, compute in summary["methods"].items():
        if method == "bon":
            continue
        key = f"prm:{compute.get('aggregation', args.aggregation)}"
        accuracy = compute["accuracy"][key]
        extra_points.append((method, compute["generated_tokens_per_problem"], accuracy))
        beams[method] = compute
        print(
            f"{method}: accuracy {100 * accuracy:.1f}% at "
            f"{compute['generated_tokens_per_problem']:.0f} generated tokens/problem, "
            f"{compute['scorer_tokens_per_problem']:.0f} scorer tokens/problem"
            + (" (the scorer's KV cache grown by each step)" if compute.get("scorer_state_reuse") else "")
            + (f", {compute['seconds']:.1f} s" if compute["seconds"] is not None else "")
        )
    if bon_results:
        report = evaluate_curves(bon_results, CurveConfig(draws=args.draws, seed=args.seed, bootstrap=args.bootstrap))
        points = report.points
        write_curves_csv(points, out / "curves.csv")
        if parquet_available():
            write_table(report.to_frame(), out / "curves.parquet")
        write_table(outcomes_frame(bon_results), out / "outcomes.csv")
        summary["curves"] = [p.__dict__ for p in points]
        summary["differences"] = [d.__dict__ for d in report.differences]
        summary["curve_settings"] = dict(report.config)
        per_problem = dict(report.per_problem)
        compute = summary["methods"]["bon"]
        print(format_table(points))
        if report.differences:
            print(format_differences(report.differences))
        for method, beam in beams.items():
            difference = _beam_minus_majority(bon_results, beam, args)
            if difference is not None:
                beam["minus_majority_at_n"] = difference
                print(f"{method} - majority@{compute['n']}: {100 * difference['mean']:+.1f} points "
                      f"[{100 * difference['ci95'][0]:+.1f}, {100 * difference['ci95'][1]:+.1f}] "
                      f"over {difference['problems']} shared problems")
                per_problem[f"{method}@beam"] = difference.pop("per_problem")
        print(
            f"bon: {compute['generated_tokens_per_problem']:.0f} generated tokens/problem at n={compute['n']}, "
            f"{compute['scorer_tokens_per_problem']:.0f} scorer tokens/problem, "
            f"{compute['generation_seconds']:.1f} s sampling + {compute['scoring_seconds']:.1f} s scoring"
        )
        known = {k: v for k, v in compute["verifier_auroc"].items() if v is not None}
        within = compute.get("within_problem_auroc", {})
        if known:
            print("verifier AUROC, pooled (solution score vs correct, all samples): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in known.items()))
            print(f"verifier AUROC within problems (mean over {within.get('problems', 0)} problems with right "
                  "and wrong samples): "
                  + ", ".join(f"{k} {within[k]:.3f}" for k in known if within.get(k) is not None))
        bias = compute.get("length_bias", {})
        if bias:
            print("length bias (Pearson r of solution score with generated tokens; raw / given correctness): "
                  + ", ".join(f"{k} {_r(v['length']['raw'])} / {_r(v['length']['given_correctness'])}"
                              for k, v in bias.items()))
        atomic_write(out / "per_problem.json", json.dumps(per_problem) + "\n")
        if not args.no_plot:
            try:
                from search.plots import headline_methods, plot_curves

                chosen = headline_methods(points, args.aggregation, args.plot_methods)
                shown = [p for p in points if p.method in chosen]
                title = args.plot_title or _plot_title(args, compute["n"], len(bon_results))
                plot_curves(shown, out / "accuracy_vs_k.png", x="k", title=f"{title}: accuracy vs k")
                plot_curves(
                    shown, out / "accuracy_vs_tokens.png", x="tokens", extra_points=extra_points,
                    title=f"{title}: accuracy vs generated tokens",
                )
            except ImportError as error:
                log.warning("no plots: %s", error)
        write_curves_json(points, out / "curves.json", {"beam": extra_points, "differences": summary["differences"]})
    atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    log.info("wrote %s", out)


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _plot_title(args, n: int, problems: int) -> str:
    """Data, policy and N, in words (not a folder path)."""
    data = args.data or "saved samples"
    if data not in ("gsm8k", "math500", "synthetic", "gsm8k-train", "math-train"):
        data = Path(data).stem
    policy = Path(args.policy).name if args.policy else "policy"
    return f"{data} ({problems} problems), policy {policy}, N={n}"


def _beam_minus_majority(bon_results, beam: dict[str, Any], args) -> dict[str, Any] | None:
    """A beam/DVTS run's accuracy minus best-of-n majority@N on the problems both ran, paired
    over problems (95% bootstrap interval); None when they share no problem."""
    import numpy as np

    from search.best_of_n import select

    searched = beam.get("per_problem_hits")
    if not searched:
        return None
    majority = {}
    for result in bon_results:
        index = select(result, "majority")
        majority[result.problem_id] = float(index is not None and result.candidates[index].is_correct is True)
    shared = [pid for pid in searched if pid in majority]
    if not shared:
        return None
    delta = np.array([searched[pid] - majority[pid] for pid in shared])
    low, high = paired_interval(delta, args.bootstrap, args.seed + 2)
    return {"mean": float(delta.mean()), "ci95": [float(low), float(high)], "problems": len(shared),
            "per_problem": {pid: searched[pid] for pid in shared}}
