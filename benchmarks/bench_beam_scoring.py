"""Benchmark beam search's PRM scoring: every prefix read whole vs the parent's KV cache grown.

    # the loop's models (from the repository root, after benchmarks/loop_synthetic.sh):
    python benchmarks/bench_beam_scoring.py --policy runs/loop0/policy --prm runs/loop0/recipe_full/rm \\
        --data runs/loop0/problems/val.jsonl --limit 32
    # smoke test: tiny random in-process models on generated synthetic problems (seconds)
    python benchmarks/bench_beam_scoring.py --policy tiny --prm tiny --limit 4 --out /tmp/beam_scoring.json

Runs step-level beam search (`search.beam`) on the same problems with the same seeds twice per
repeat: with full rescoring (`SearchSetup.reuse_scorer_states=False`: each new prefix read
whole, as search-and-learn and OpenR do) and with the stateful scorer (`PRMScorer.extend`: each
new prefix grows its parent's KV cache, so a round reads only the new steps). The policy is the
transformers engine with seeded rows, so both runs sample the same text where they select the
same paths; the JSON says whether they did (`same_paths`) and how far the step scores moved.

Measured per mode (median over --repeats, the two modes alternating): scorer tokens per problem
(what the search's compute report counts), beam-search wall time and the part of it spent in
the scorer. Writes --out (default docs/results/beam_scoring.json) with `scorer_token_ratio`
(full / stateful tokens; goal >= 3) and the wall-time ratios (goal: stateful faster). The
accuracy beside them is rm@n by exact string match of the extracted answer (a sanity check).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prm.data.problems import read_problems  # noqa: E402
from prm.data.synthetic import SyntheticConfig, make_problems  # noqa: E402
from prm.engines.base import SamplingConfig  # noqa: E402
from prm.engines.hf import TransformersEngine, TransformersEngineConfig  # noqa: E402
from prm.engines.prompts import policy_prompt, resolve_template  # noqa: E402
from prm.grading import extract_answer  # noqa: E402
from prm.scoring import PRMScorer  # noqa: E402
from prm.steps import StepFormat  # noqa: E402
from search import beam  # noqa: E402
from search.beam import BeamSearchConfig  # noqa: E402
from search.best_of_n import selection_accuracy  # noqa: E402
from search.candidates import SearchSetup  # noqa: E402

# The loop's policy prompt (benchmarks/loop_synthetic.sh: --prompt-template "$TEMPLATE" --no-chat-template).
LOOP_TEMPLATE = "Question: {question}\n\nStep-by-step solution:\n\n"


class TimedScorer:
    """Forwards to a PRMScorer and adds up the seconds spent in it (an ExtendingStepScorer too)."""

    def __init__(self, scorer: PRMScorer):
        self.scorer, self.seconds = scorer, 0.0

    def _timed(self, name, *args):
        start = time.perf_counter()
        try:
            return getattr(self.scorer, name)(*args)
        finally:
            self.seconds += time.perf_counter() - start

    def score_steps(self, prompts, steps):
        return self._timed("score_steps", prompts, steps)

    def can_extend(self):
        return self._timed("can_extend")

    def start(self, prompts):
        return self._timed("start", prompts)

    def extend(self, states, new_steps):
        return self._timed("extend", states, new_steps)


def build_models(args):
    """(engine, template, scorer): the policy engine, its prompt template, the PRMScorer."""
    import torch

    engine_config = TransformersEngineConfig(batch_size=args.engine_batch_size)
    if args.policy == "tiny" or args.prm == "tiny":
        from prm.modeling import RewardConfig, RewardModel
        from prm.testing import tiny_causal_lm, tiny_tokenizer
    if args.policy == "tiny":
        tokenizer = tiny_tokenizer()
        engine = TransformersEngine(tiny_causal_lm(tokenizer, seed=args.seed).eval(), tokenizer, engine_config)
    else:
        engine = TransformersEngine.from_pretrained(args.policy, engine_config, device=args.device)
    template = resolve_template(engine.tokenizer, args.prompt_template, chat=False)
    if args.prm == "tiny":
        tokenizer = tiny_tokenizer()
        model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer, seed=args.seed + 1), tokenizer, RewardConfig())
        with torch.no_grad():  # spread the probabilities away from 0.5
            model.step_head.linear.weight.mul_(8)
        scorer = PRMScorer(model.to(args.device), tokenizer, batch_size=args.scorer_batch_size)
    else:
        scorer = PRMScorer.from_pretrained(args.prm, device=args.device, batch_size=args.scorer_batch_size)
    return engine, template, scorer


def load_problems(args):
    if args.data is None:
        return make_problems(args.limit, SyntheticConfig(seed=args.seed))
    return read_problems(args.data)[: args.limit]


def run_once(problems, engine, scorer, config, setup, reuse: bool) -> dict:
    timed = TimedScorer(scorer)
    start = time.perf_counter()
    results = beam.run(problems, engine, timed, config, dataclasses.replace(setup, reuse_scorer_states=reuse))
    seconds = time.perf_counter() - start
    count = len(results)
    return {
        "results": results,
        "beam_seconds": seconds,
        "scoring_seconds": timed.seconds,
        "scorer_tokens_per_problem": sum(r.meta["scorer_tokens"] for r in results) / count,
        "scored_prefixes_per_problem": sum(r.meta["scored_prefixes"] for r in results) / count,
        "scorer_rereads_per_problem": sum(r.meta["scorer_rereads"] for r in results) / count,
        "scorer_state_reuse": all(r.meta["scorer_state_reuse"] for r in results),
        "generated_tokens_per_problem": sum(r.generated_tokens for r in results) / count,
        "accuracy": selection_accuracy(results, "rm", f"prm:{config.aggregation}"),
    }


def compare_paths(full, stateful) -> tuple[bool, float]:
    """(same candidate steps for every problem, largest step-score difference over them)."""
    same, largest = True, 0.0
    for a, b in zip(full, stateful):
        if [c.steps for c in a.candidates] != [c.steps for c in b.candidates]:
            same = False
            continue
        for x, y in zip(a.candidates, b.candidates):
            largest = max([largest, *(abs(p - q) for p, q in zip(x.step_scores, y.step_scores))])
    return same, largest


def summarise(runs: list[dict]) -> dict:
    keep = ("scorer_tokens_per_problem", "scored_prefixes_per_problem", "scorer_rereads_per_problem",
            "scorer_state_reuse", "generated_tokens_per_problem", "accuracy")
    row = {key: runs[0][key] for key in keep}
    row["beam_seconds"] = statistics.median(r["beam_seconds"] for r in runs)
    row["scoring_seconds"] = statistics.median(r["scoring_seconds"] for r in runs)
    row["beam_seconds_all"] = [round(r["beam_seconds"], 3) for r in runs]
    row["scoring_seconds_all"] = [round(r["scoring_seconds"], 3) for r in runs]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="tiny", help="policy folder, or 'tiny' (a random in-process model)")
    parser.add_argument("--prm", default="tiny", help="toolkit reward-model folder, or 'tiny'")
    parser.add_argument("--data", default=None, help="problems jsonl (default: generated synthetic problems)")
    parser.add_argument("--limit", type=int, default=32, help="first N problems")
    parser.add_argument("--prompt-template", default=LOOP_TEMPLATE, help="policy prompt with {question}")
    parser.add_argument("--beam-width", type=int, default=2)
    parser.add_argument("--n", type=int, default=8, help="new steps sampled per round (N)")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-step-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--aggregation", default="last")
    parser.add_argument("--problem-batch-size", type=int, default=16)
    parser.add_argument("--engine-batch-size", type=int, default=64)
    parser.add_argument("--scorer-batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each mode (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/beam_scoring.json"))
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    engine, template, scorer = build_models(args)
    problems = load_problems(args)
    config = BeamSearchConfig(
        beam_width=args.beam_width, n_candidates=args.n, max_steps=args.max_steps, aggregation=args.aggregation,
        problem_batch_size=args.problem_batch_size,
        sampling=SamplingConfig(temperature=args.temperature, max_new_tokens=args.max_step_tokens, seed=args.seed),
    )
    step_format: StepFormat = scorer.step_format

    def count_tokens(prompt, steps):
        return len(scorer.encode([prompt], [list(steps)])[0].input_ids)

    setup = SearchSetup(lambda p: policy_prompt(p.question, template), extract_answer,
                        lambda gold, pred: gold.strip() == pred.strip(), step_format, count_tokens)
    runs: dict[str, list[dict]] = {"full": [], "stateful": []}
    for _ in range(args.repeats):
        runs["full"].append(run_once(problems, engine, scorer, config, setup, reuse=False))
        runs["stateful"].append(run_once(problems, engine, scorer, config, setup, reuse=True))
    same, largest = compare_paths(runs["full"][0]["results"], runs["stateful"][0]["results"])
    full, stateful = summarise(runs["full"]), summarise(runs["stateful"])
    report = {
        "benchmark": "benchmarks/bench_beam_scoring.py",
        "argv": sys.argv[1:] if argv is None else list(argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(), "device": args.device},
        "policy": args.policy, "prm": args.prm, "data": args.data or "synthetic (generated)",
        "problems": len(problems), "repeats": args.repeats,
        "beam": {"beam_width": args.beam_width, "n_candidates": args.n, "max_steps": args.max_steps,
                 "max_step_tokens": args.max_step_tokens, "temperature": args.temperature,
                 "aggregation": args.aggregation, "seed": args.seed},
        "full": full, "stateful": stateful,
        "scorer_token_ratio": full["scorer_tokens_per_problem"] / max(stateful["scorer_tokens_per_problem"], 1e-9),
        "beam_seconds_ratio": full["beam_seconds"] / max(stateful["beam_seconds"], 1e-9),
        "scoring_seconds_ratio": full["scoring_seconds"] / max(stateful["scoring_seconds"], 1e-9),
        "same_paths": same, "max_step_score_difference": largest,
    }
    report["goals"] = {"scorer_token_ratio_at_least_3": report["scorer_token_ratio"] >= 3.0,
                       "lower_beam_wall_time": stateful["beam_seconds"] < full["beam_seconds"]}
    print(f"# beam search M={args.beam_width} N={args.n}, {len(problems)} problems, policy={args.policy}, "
          f"prm={args.prm}; median of {args.repeats}")
    print(f"{'mode':<9} {'scorer tok/problem':>19} {'prefixes/problem':>17} {'rereads':>8} {'beam s':>8} {'scoring s':>10}")
    for name, row in (("full", full), ("stateful", stateful)):
        print(f"{name:<9} {row['scorer_tokens_per_problem']:19.1f} {row['scored_prefixes_per_problem']:17.1f} "
              f"{row['scorer_rereads_per_problem']:8.2f} {row['beam_seconds']:8.2f} {row['scoring_seconds']:10.2f}")
    print(f"scorer_token_ratio {report['scorer_token_ratio']:.2f}, beam wall time ratio "
          f"{report['beam_seconds_ratio']:.2f}, scoring time ratio {report['scoring_seconds_ratio']:.2f}, "
          f"same paths: {same} (largest step-score difference {largest:.2e})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
