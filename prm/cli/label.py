"""`prm label`: sample solutions and/or label their steps by Monte Carlo rollouts.

Public: `add_arguments`, `run`.

Examples:
    prm label --data gsm8k --limit 20 --samples 4 --rollouts 8 --method math_shepherd --out runs/labels
    prm label --solutions solutions.jsonl --method binary_search --early-stop --out runs/labels
    prm label ... --shard 0/4 --out runs/part0   # then: prm merge runs/part*/labels.jsonl --out runs/all
    prm label --data gsm8k-train --method perturb --samples 2 --out runs/perturbed

Each writes `labels.jsonl` (and its `.meta.json` sidecar) in the --out folder; an --out that
ends in .jsonl is still taken as that file, with a warning, for one release.

The output resumes by default: rerun the same command after an interruption. The engine is
chosen by --engine; `simulated` is a noisy solver for the synthetic task (benchmarks, tests).
`--method perturb` generates nothing: it labels each reference solution and --samples copies with
one step's result changed (`labeling.perturb`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from labeling.estimators import METHODS, EstimatorConfig
from labeling.pipeline import LabelingJob, job_inputs, make_processor, problem_units, row_problem, solution_units
from labeling.rollouts import RolloutConfig
from labeling.runner import run_units, shard_units
from labeling.sampling import DEFAULT_TEMPLATE, preference_pairs
from labeling.store import ResumableJsonl, fingerprint
from prm.atomic import OutputLock
from prm.cli import options, wiring
from prm.engines.base import SamplingConfig
from prm.errors import OptionError
from prm.steps import STEP_FORMATS, step_format_named

log = logging.getLogger("prm.label")
# Options that do not change which rows are written (so a resume may differ in them). The
# problems themselves are fingerprinted, so where --data-root found them does not matter.
_NOT_FINGERPRINTED = {
    "out", "shard", "resume", "pairs_out", "progress", "command", "group_size", "batch_size",
    "no_shared_prefill", "sim_call_seconds", "vllm_memory", "vllm_max_len", "data_root", "threads", "config",
}
LABELS = "labels.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", dest="problems",
                        help=f"problems to sample, then label: {', '.join(wiring.PROBLEM_NAMES)}, or {wiring.DATA_HELP}")
    source.add_argument("--solutions", help="step-wise solutions to label (no sampling): a file or a hub dataset")
    parser.add_argument("--out", required=True,
                        help=f"output folder; writes {LABELS} with its .meta.json sidecar (a .jsonl path: that file, "
                             "deprecated)")
    parser.add_argument("--data-root", default="../shared/data", help="folder holding gsm8k/ and math/")
    parser.add_argument("--limit", type=int, default=None, help="first N problems/solutions only (synthetic: how many)")
    parser.add_argument("--synthetic-steps", type=int, default=5, help="operations per synthetic problem")
    parser.add_argument("--policy", default="embedded", help="the generating model: a name or folder")
    options.add_engine(parser, engines=wiring.ENGINES, batch_size=64, batch_dest="batch_size")
    options.add_compute(parser)
    parser.add_argument("--no-shared-prefill", action="store_true", help="prefill every sample separately")
    parser.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=None,
                        help="wrap the prompt template in the policy's chat template (default: where it has one)")
    parser.add_argument("--prompt-template", default=DEFAULT_TEMPLATE, help="policy prompt with {question}")
    parser.add_argument("--step-format", choices=STEP_FORMATS, default="default",
                        help="how solutions split into steps (recorded in the sidecar; prm train reads it back)")
    parser.add_argument("--samples", type=int, default=4, help="solutions per problem (K)")
    parser.add_argument("--method", choices=METHODS + ("none", "perturb"), default="math_shepherd",
                        help="none: sample only; perturb: plant wrong results in reference solutions (no policy)")
    parser.add_argument("--rollouts", type=int, default=8, help="rollouts per estimated prefix (N)")
    parser.add_argument("--early-stop", action="store_true", help="stop a prefix at its first correct rollout")
    parser.add_argument("--round-size", type=int, default=2, help="rollouts per round with --early-stop")
    parser.add_argument("--label-type", choices=("hard", "soft"), default="hard")
    parser.add_argument("--min-correct", type=int, default=1, help="binary_search: correct rollouts that make a prefix good")
    parser.add_argument("--verify-correct", action="store_true", help="binary_search: also search right answers")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="engine seed (vLLM); rollout seeds derive from record keys")
    parser.add_argument("--group-size", type=int, default=16, help="units per engine batch (and per fsync'd write)")
    parser.add_argument("--shard", default="0/1", help="i/n: this job's share of the inputs")
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="overwrite an existing output")
    parser.add_argument("--pairs-out", default=None, help="also write ORM chosen/rejected pairs here")
    parser.add_argument("--sim-error-rate", type=float, default=0.15, help="simulated engine: per-step error rate")
    parser.add_argument("--sim-call-seconds", type=float, default=0.0, help="simulated engine: latency per call")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    for old, new in (("--problems", "--data"), ("--batch-size", "--engine-batch-size")):
        options.deprecate(parser, old, new)


def _load_inputs(args):
    if args.solutions:
        solutions = wiring.load_stepwise(args.solutions, args.data_root, option="--solutions")
        return None, solutions[: args.limit] if args.limit is not None else solutions
    problems = wiring.load_problems(
        args.problems, args.data_root, args.limit, None, args.seed, synthetic_steps=args.synthetic_steps
    )
    return problems, None


def _engine_and_grader(args, problems):
    engine, tokenizer = wiring.build_engine(
        args.engine, args.policy, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
        share_prefill=not args.no_shared_prefill, seed=args.seed, vllm_memory=args.vllm_memory,
        vllm_max_len=args.vllm_max_len, problems=problems, sim_error_rate=args.sim_error_rate, sim_call_seconds=args.sim_call_seconds,
    )
    return engine, wiring.solution_grader(args.engine), tokenizer


def _perturb(args: argparse.Namespace) -> int:
    from labeling.perturb import PerturbConfig, perturbed_rows
    from prm.data.io import write_jsonl

    if not args.problems or args.pairs_out or args.shard != "0/1":
        raise OptionError("--method perturb", "labels --data's reference solutions",
                          "drop --solutions, --pairs-out and --shard")
    problems, _ = _load_inputs(args)
    rows = list(perturbed_rows(problems, PerturbConfig(negatives=args.samples, seed=args.seed),
                              step_format_named(args.step_format)))
    with OutputLock(args.out):  # one writer per output, as for the resumable runs
        write_jsonl(rows, args.out)
    bad = sum(not row["correct"] for row in rows)
    print(f"prm label: {len(rows)} solutions from {len(problems)} reference solutions "
          f"({len(rows) - len(problems)} perturbed, {bad} with a wrong final answer) -> {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    args.out = wiring.output_file(args.out, LABELS)
    if args.method == "perturb":
        return _perturb(args)
    shard_index, shard_count = wiring.parse_shard(args.shard)
    wiring.check_at_least(args, 1, "samples", "rollouts", "round_size", "min_correct", "max_new_tokens", "group_size",
                          "batch_size", "limit", "synthetic_steps")
    wiring.check_at_least(args, 0, "temperature", "sim_error_rate", "sim_call_seconds")
    wiring.check_positive(args, "top_p")
    step_format = step_format_named(args.step_format)
    estimator = None
    if args.method != "none":
        estimator = EstimatorConfig(
            args.method, args.rollouts, args.early_stop, args.round_size, args.label_type,
            args.verify_correct, args.min_correct,
        )
    rollout = RolloutConfig(SamplingConfig(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=None))
    # Built (and so checked) before the output is taken; the template is resolved once the policy is loaded.
    job = LabelingJob(args.samples, estimator, rollout, args.prompt_template, step_format=step_format)
    problems, solutions = _load_inputs(args)
    if not (problems or solutions):
        raise OptionError("--data" if args.solutions is None else "--solutions", "names no problems or solutions",
                          "give a file with at least one row", args.problems or args.solutions)
    units = problem_units(problems, args.samples) if problems is not None else solution_units(solutions)
    options = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_FINGERPRINTED}
    if options["step_format"] == "default":  # runs from before --step-format keep their fingerprint
        del options["step_format"]
    print_key = fingerprint(job_inputs(units), options)
    mine = shard_units(units, shard_index, shard_count)
    header = {
        "command": "label",
        "options": options,
        "shard": [shard_index, shard_count],
        "units": len(mine),
        "unit_field": "problem_id" if problems is not None else "id",
        "step_format": {"name": args.step_format, **step_format.to_dict()},
    }
    expected_ids = {row_id for unit in mine for row_id in unit.ids}
    with ResumableJsonl(args.out, print_key, header, args.resume, expected_ids, row_problem) as store:
        if store.dropped:
            log.warning("%s: resume dropped %d written rows (%s); they are labeled again", args.out,
                        sum(store.dropped.values()), ", ".join(f"{n} {why}" for why, n in store.dropped.items()))
        log.info("%s: %d units in shard %d/%d, %d already written; fingerprint %s", args.out, len(mine), shard_index,
                 shard_count, sum(set(u.ids) <= store.done_ids for u in mine), print_key)
        summary = _label(args, problems, mine, store, job)
    print(json.dumps(summary, indent=1))
    print(f"prm label: labels in {args.out}" + (f", ORM pairs in {args.pairs_out}" if args.pairs_out else ""))
    return 0


def _label(args, problems, mine, store: ResumableJsonl, job: LabelingJob) -> dict:
    """Build the engine, label every unit not yet in `store`, write --pairs-out; the summary."""
    engine, grade, tokenizer = _engine_and_grader(args, problems)
    if tokenizer is not None:
        from prm.engines.prompts import resolve_template

        job = dataclasses.replace(job, template=resolve_template(tokenizer, job.template, args.chat_template))
    bar, update = _progress_bar(len(mine), args.progress, "problem" if problems is not None else "solution")
    with wiring.heartbeat(bar):
        summary = run_units(mine, make_processor(job, engine, grade), store, args.group_size, update)
    bar.close()
    log.info("done: %s", json.dumps(summary))
    if args.pairs_out:
        from prm.data.io import write_jsonl

        pairs = preference_pairs(store.rows)
        write_jsonl([pair.to_dict() for pair in pairs], args.pairs_out)
        log.info("wrote %d ORM pairs to %s", len(pairs), args.pairs_out)
    return summary


def _progress_bar(total: int, enabled: bool, unit: str):
    """(bar, update(done, cost) for run_units): problems (or solutions) with rate and ETA, and the
    rollouts and tokens spent so far; redrawn every few seconds while a group runs."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, disable=not enabled, dynamic_ncols=True, desc="labeling")
    totals = {"rollouts": 0, "generated_tokens": 0}

    def update(done: int, cost) -> None:
        if not cost and bar.n == 0:
            # Units already written by an earlier run: not part of this run's rate or ETA.
            bar.initial = bar.n = bar.last_print_n = done
            bar.refresh()
            return
        for key in totals:
            totals[key] += int(cost.get(key, 0))
        bar.update(done)
        bar.set_postfix(rollouts=totals["rollouts"], tokens=totals["generated_tokens"], refresh=False)

    return bar, update
