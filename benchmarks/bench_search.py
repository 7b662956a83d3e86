"""Benchmark test-time search: accuracy vs N (and vs generated tokens) and beam throughput.

    python benchmarks/bench_search.py                       # scripted policy, simulated verifiers
    python benchmarks/bench_search.py --policy embedded --problems 4 --n 4   # slow on a CPU

Part 1, accuracy: on the synthetic arithmetic task, N samples per problem from the policy;
bootstrap curves (k = 1, 2, 4, ..., N) for majority vote, weighted vote, PRM best-of-n (per
aggregation), ORM best-of-n and pass@k; then beam search and DVTS at several widths, each
reported with its generated tokens per problem next to best-of-n at the nearest token cost.
By default the policy is a *scripted noisy solver* (each step goes wrong with probability
--error-rate, errors carry forward) and the PRM/ORM are *simulated verifiers*: a noisy logit
around the exact step truth (`prm.data.synthetic.step_truth`) or the final answer's grade.
They measure the search and selection machinery, not a trained model. --policy embedded
samples SmolLM2-135M instead (a few tokens/s on 2 shared CPU cores: keep --problems and --n tiny).

Part 2, throughput: beam search problems/s batched across problems vs one problem at a time,
(a) scripted policy + simulated PRM (pure search overhead), (b) a transformers engine on a tiny
random 2-layer model (generation batching). Median of --repeats runs each.

Prints tables; writes <out>/bench_search.json, curves.csv and two PNG plots.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prm.data.synthetic import SyntheticConfig, corrupt, make_problems, step_truth  # noqa: E402
from prm.engines.base import SamplingConfig  # noqa: E402
from prm.engines.scripted import ScriptedEngine  # noqa: E402
from prm.steps import StepFormat  # noqa: E402
from search.beam import BeamSearchConfig  # noqa: E402
from search.best_of_n import (  # noqa: E402
    BestOfNConfig,
    group_candidates,
    sample_candidates,
    score_candidates,
    selection_accuracy,
)
from search.candidates import SearchSetup  # noqa: E402
from search.curves import CurveConfig, bootstrap_curves, format_table, write_curves_csv  # noqa: E402
from search.methods import METHODS  # noqa: E402
from search.voting import AnswerGrouper  # noqa: E402

FORMAT = StepFormat()


def prompt_for(problem) -> str:
    return f"Question: {problem.question}\nAnswer:\n"


class NoisySolver:
    """A scripted policy that continues any prefix: right steps, or an error carried forward."""

    def __init__(self, problems, error_rate: float, seed: int):
        self.by_prompt = {prompt_for(p): p for p in problems}
        self.error_rate, self.seed = error_rate, seed

    def __call__(self, prompt: str, index: int) -> str:
        head = next(h for h in self.by_prompt if prompt.startswith(h))
        problem = self.by_prompt[head]
        prefix = FORMAT.split(prompt[len(head):], drop_empty=True)
        rng = random.Random(f"{self.seed}|{prompt}|{index}")
        reference = FORMAT.split(problem.reference_solution)
        if prefix and not all(step_truth(problem, prefix)):
            return f"So the answer is {int(problem.answer) + rng.randint(1, 9)}."
        first_error = len(prefix) + int(math.log(1 - rng.random()) / math.log(1 - self.error_rate))
        steps = corrupt(problem, first_error, rng) if first_error < len(reference) else reference
        return FORMAT.join(steps[len(prefix):])


class SimulatedPRM:
    """Step score = sigmoid(+margin or -margin around the exact step truth, plus noise)."""

    def __init__(self, problems, noise: float, margin: float = 1.5, seed: int = 0):
        self.by_question = {p.question: p for p in problems}
        self.noise, self.margin, self.seed = noise, margin, seed

    def score_steps(self, prompts, steps):
        out = []
        for prompt, solution in zip(prompts, steps):
            truth = step_truth(self.by_question[prompt], list(solution))
            out.append([self._score(ok, prompt, solution[: i + 1]) for i, ok in enumerate(truth)])
        return out

    def _score(self, ok: bool, prompt: str, prefix) -> float:
        noise = random.Random(f"{self.seed}|{prompt}|{FORMAT.join(prefix)}").gauss(0.0, self.noise)
        return 1.0 / (1.0 + math.exp(-((self.margin if ok else -self.margin) + noise)))


class SimulatedORM(SimulatedPRM):
    """Outcome score from whether every step (so the final answer) is right, plus noise."""

    def score_outcomes(self, prompts, steps):
        return [
            self._score(all(step_truth(self.by_question[p], list(s))), p, ["orm", *s])
            for p, s in zip(prompts, steps)
        ]


class LengthPRM:
    """A near-free scorer for throughput runs on random text: shorter steps score higher."""

    def score_steps(self, prompts, steps):
        return [[1.0 / (1.0 + len(step)) for step in solution] for solution in steps]


def simple_grader():
    from prm.grading import extract_answer

    return extract_answer, lambda gold, pred: gold.strip() == pred.strip().rstrip(".")


def accuracy_part(args, problems, engine, prm, orm, extract_answer, grade):
    config = BestOfNConfig(SamplingConfig(n=args.n, temperature=0.7, max_new_tokens=args.max_new_tokens, seed=args.seed))
    start = time.perf_counter()
    results = sample_candidates(engine, problems, config, prompt_for, extract_answer, grade, FORMAT)
    results = score_candidates(results, prm=prm, orm=orm)
    results = group_candidates(results, AnswerGrouper(grade))
    bon_seconds = time.perf_counter() - start
    points = bootstrap_curves(results, CurveConfig(draws=args.draws, seed=args.seed))
    beams = []
    for width, n in [(1, 4), (2, 8), (4, 16)]:
        if n > args.n:
            continue
        for method in ("beam", "dvts"):
            bconfig = BeamSearchConfig(
                beam_width=width, n_candidates=n, max_steps=args.max_steps,
                sampling=SamplingConfig(max_new_tokens=args.max_new_tokens, seed=args.seed),
                aggregation=args.beam_aggregation,
            )
            start = time.perf_counter()
            found = METHODS[method].run(problems, engine, prm, bconfig, SearchSetup(prompt_for, extract_answer, grade, FORMAT))
            seconds = time.perf_counter() - start
            beams.append({
                "method": f"{method} M={width} N={n}",
                "accuracy": selection_accuracy(found, "rm", f"prm:{args.beam_aggregation}"),
                "tokens": sum(r.generated_tokens for r in found) / len(found),
                "scored_prefixes": sum(r.meta["scored_prefixes"] for r in found) / len(found),
                "seconds": seconds,
            })
    return results, points, beams, bon_seconds


def nearest_bon(points, tokens: float, method: str):
    series = [p for p in points if p.method == method]
    return min(series, key=lambda p: abs(math.log(p.tokens / tokens))) if series and tokens else None


def throughput(engine, scorer, problems, config, repeats) -> dict:
    rates = {}
    for name, batch in (("batched", None), ("one_at_a_time", 1)):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            setup = SearchSetup(prompt_for, lambda t: None, lambda g, p: None, FORMAT)
            options = dict(config)  # the JSON-able settings; one step's token limit goes into the sampling
            sampling = SamplingConfig(max_new_tokens=options.pop("max_step_tokens"))
            METHODS["beam"].run(problems, engine, scorer, BeamSearchConfig(problem_batch_size=batch, sampling=sampling, **options), setup)
            times.append(time.perf_counter() - start)
        rates[name] = len(problems) / statistics.median(times)
    rates["speedup"] = rates["batched"] / rates["one_at_a_time"]
    return rates


def report_accuracy(args, out, problems, engine, prm, orm, extract_answer, grade, unit) -> dict:
    results, points, beams, bon_seconds = accuracy_part(args, problems, engine, prm, orm, extract_answer, grade)
    write_curves_csv(points, out / "curves.csv")
    print(f"# accuracy vs k: {args.problems} synthetic problems, policy={args.policy}, "
          f"simulated PRM/ORM (noise {args.prm_noise}), {args.draws} bootstrap draws; mean ±std (%)")
    print(format_table(points).replace("tokens", unit))
    print(f"\n# beam search (ranked by prm:{args.beam_aggregation}) vs best-of-n at the nearest generated-{unit} cost")
    print(f"{'method':<18} {'acc %':>6} {unit + '/problem':>15} {'prefixes/problem':>17}   best-of-n there (k: rm:prm:min / weighted:prm:min / majority)")
    for beam in beams:
        near = {m: nearest_bon(points, beam["tokens"], m) for m in ("rm:prm:min", "weighted:prm:min", "majority")}
        cell = " / ".join(f"{100 * p.mean:.1f}" for p in near.values() if p)
        k = next(iter(near.values())).k
        print(f"{beam['method']:<18} {100 * beam['accuracy']:6.1f} {beam['tokens']:15.0f} "
              f"{beam['scored_prefixes']:17.1f}   k={k}: {cell}")
    try:
        from search.plots import plot_curves

        extra = [(b["method"], b["tokens"], b["accuracy"]) for b in beams]
        plot_curves(points, out / "accuracy_vs_k.png", x="k", title="synthetic: accuracy vs k")
        plot_curves(points, out / "accuracy_vs_tokens.png", x="tokens", extra_points=extra,
                    title=f"synthetic: accuracy vs generated {unit}")
    except ImportError as error:
        print(f"no plots: {error}")
    return {"bon_seconds": bon_seconds, "curves": [p.__dict__ for p in points], "beam": beams}


def report_throughput(args, problems, engine, prm) -> dict:
    throughput_problems = problems[: args.throughput_problems]
    config = dict(beam_width=4, n_candidates=16, max_steps=args.max_steps, max_step_tokens=64)
    rates = {"scripted+simulated PRM": throughput(engine if args.policy == "scripted" else ScriptedEngine(
        NoisySolver(problems, args.error_rate, args.seed)), prm, throughput_problems, config, args.repeats)}
    from prm.engines.hf import TransformersEngine
    from prm.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    tiny = TransformersEngine(tiny_causal_lm(tokenizer), tokenizer)
    tiny_config = dict(beam_width=2, n_candidates=4, max_steps=3, max_step_tokens=8)
    rates["tiny random LM (transformers engine)"] = throughput(
        tiny, LengthPRM(), problems[:8], tiny_config, args.repeats)
    print(f"\n# beam-search throughput (problems/s, median of {args.repeats})")
    for name, rate in rates.items():
        print(f"{name:<40} batched {rate['batched']:8.2f}  one-at-a-time {rate['one_at_a_time']:8.2f}  "
              f"x{rate['speedup']:.2f}")

    return {"throughput": rates, "throughput_settings": {"scripted": config, "tiny": tiny_config, "repeats": args.repeats}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="scripted", help="scripted, embedded, or a model folder")
    parser.add_argument("--problems", type=int, default=60)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--num-steps", type=int, nargs=2, default=(2, 5), help="synthetic operations range")
    parser.add_argument("--error-rate", type=float, default=0.25, help="scripted policy: per-step error rate")
    parser.add_argument("--prm-noise", type=float, default=1.5, help="simulated verifier logit noise (std)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--beam-aggregation", default="min", help="beam ranking/selection: min, prod, last, mean")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--throughput-problems", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", nargs="+", choices=("accuracy", "throughput"), default=["accuracy", "throughput"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared CPU)")
    parser.add_argument("--out", default="runs/bench_search")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    problems = make_problems(args.problems, SyntheticConfig(num_steps=tuple(args.num_steps), seed=args.seed))
    prm = SimulatedPRM(problems, args.prm_noise, seed=args.seed)
    orm = SimulatedORM(problems, args.prm_noise, seed=args.seed + 1)
    if args.policy == "scripted":
        engine = ScriptedEngine(NoisySolver(problems, args.error_rate, args.seed))
        unit = "words"
    else:
        from prm.engines.hf import TransformersEngine

        engine = TransformersEngine.from_pretrained(args.policy)
        unit = "tokens"
    extract_answer, grade = simple_grader()
    payload = {"settings": vars(args) | {"num_steps": list(args.num_steps)}, "token_unit": unit}
    if "accuracy" in args.parts:
        payload.update(report_accuracy(args, out, problems, engine, prm, orm, extract_answer, grade, unit))
    if "throughput" in args.parts:
        payload.update(report_throughput(args, problems, engine, prm))
    (out / "bench_search.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out}/bench_search.json (and with the accuracy part curves.csv and two PNG plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
