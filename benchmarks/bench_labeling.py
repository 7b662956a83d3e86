"""Estimator quality vs cost on the synthetic task with exact step truth (simulated policy).

What it measures: for Math-Shepherd with N = 4, 8, 16 (and N = 8 with early stop) and for the
first-error binary search (N = 8, with and without early stop):
  * hard-label agreement with the truth (`prm.data.synthetic.step_truth`), over all steps;
  * first-error accuracy (predicted first bad step == true first error, -1 = none);
  * generated rollout tokens per solution (solution sampling costs the same for every method).
On what: `make_problems(P, SyntheticConfig(num_steps=S))`, K solutions per problem sampled from
`labeling.simulated.NoisySolverEngine` (a simulated policy whose steps go wrong with a known
rate; tokens are words), graded by their "answer is N" statement. The whole labeling path
(`labeling.sampling` + `labeling.rollouts` + `labeling.estimators`) runs as in `prm label`.
Repeats: one per problem seed; the table shows the median over repeats.

    python benchmarks/bench_labeling.py [--problems 200 --samples 4 --steps 6 --error-rate 0.1 --repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.estimators import EstimatorConfig  # noqa: E402
from labeling.rollouts import LabelTask, RolloutConfig, label_steps  # noqa: E402
from labeling.sampling import policy_prompt, sample_solutions  # noqa: E402
from labeling.simulated import NoisySolverEngine, grade_answer_statement  # noqa: E402
from prm.data.synthetic import SyntheticConfig, make_problems, step_truth  # noqa: E402
from prm.engines.base import SamplingConfig  # noqa: E402
from prm.steps import StepFormat  # noqa: E402

FORMAT = StepFormat()  # the synthetic task's own

METHODS = {
    "math_shepherd N=4": EstimatorConfig("math_shepherd", rollouts=4),
    "math_shepherd N=8": EstimatorConfig("math_shepherd", rollouts=8),
    "math_shepherd N=16": EstimatorConfig("math_shepherd", rollouts=16),
    "math_shepherd N=8 early stop": EstimatorConfig("math_shepherd", rollouts=8, early_stop=True, round_size=2),
    "binary_search N=8": EstimatorConfig("binary_search", rollouts=8),
    "binary_search N=8 early stop": EstimatorConfig("binary_search", rollouts=8, early_stop=True, round_size=1),
    "binary_search N=8 early stop, verify correct": EstimatorConfig(
        "binary_search", rollouts=8, early_stop=True, round_size=1, verify_correct=True
    ),
    "binary_search N=8 early stop, min_correct=2": EstimatorConfig(
        "binary_search", rollouts=8, early_stop=True, round_size=1, min_correct=2
    ),
    "binary_search N=4 early stop": EstimatorConfig("binary_search", rollouts=4, early_stop=True, round_size=1),
}


def run_once(args, seed: int) -> dict[str, dict[str, float]]:
    problems = make_problems(args.problems, SyntheticConfig(num_steps=args.steps, seed=seed))
    engine = NoisySolverEngine(problems, args.error_rate)
    rollout = RolloutConfig(SamplingConfig(max_new_tokens=256, seed=None))
    template = "{question}\n\n"
    solutions = [s for group in sample_solutions(problems, engine, grade_answer_statement, args.samples, rollout, FORMAT, template=template) for s in group]
    truths = [step_truth(s.problem, list(s.steps)) for s in solutions]
    tasks = [LabelTask(s.key, policy_prompt(s.problem.question, template), s.steps, s.problem.answer, s.outcome) for s in solutions]
    results = {}
    for name, config in METHODS.items():
        started = time.perf_counter()
        labelled = label_steps(tasks, NoisySolverEngine(problems, args.error_rate), grade_answer_statement, config, rollout, FORMAT)
        seconds = time.perf_counter() - started
        agree = total = first_right = 0
        for result, truth in zip(labelled, truths):
            labels = result.estimate.labels
            agree += sum(label is not None and (label >= 0.5) == good for label, good in zip(labels, truth))
            total += len(truth)
            true_first = truth.index(False) if False in truth else -1
            first_right += result.estimate.first_error == true_first
        results[name] = {
            "label_agreement": agree / total,
            "first_error_accuracy": first_right / len(labelled),
            "tokens_per_solution": sum(r.generated_tokens for r in labelled) / len(labelled),
            "rollouts_per_solution": sum(r.rollouts_drawn for r in labelled) / len(labelled),
            "seconds": seconds,
        }
    results["_data"] = {
        "solutions": len(solutions),
        "solution_accuracy": sum(s.outcome == "correct" for s in solutions) / len(solutions),
        "wrong_process_rate": sum(False in t for t in truths) / len(truths),
    }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="operations per problem (steps = operations + 1)")
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="runs/bench_labeling.json")
    args = parser.parse_args()
    runs = [run_once(args, seed) for seed in range(args.repeats)]
    table = {}
    for name in METHODS:
        table[name] = {key: statistics.median(run[name][key] for run in runs) for key in runs[0][name]}
    reference = table["math_shepherd N=8"]
    header = f"{'method':45s} {'agreement':>9s} {'first-err acc':>13s} {'tokens/sol':>10s} {'rollouts/sol':>12s} {'vs MS N=8':>9s}"
    print(f"synthetic task: {args.problems} problems x {args.samples} solutions, {args.steps} operations, "
          f"simulated policy step error rate {args.error_rate}; median of {args.repeats} problem seeds")
    data = runs[0]["_data"]
    print(f"(seed 0: {data['solutions']} solutions, {data['solution_accuracy']:.2f} final-answer accuracy, "
          f"{data['wrong_process_rate']:.2f} with a wrong step)")
    print(header)
    for name, row in table.items():
        saving = reference["tokens_per_solution"] / row["tokens_per_solution"] if row["tokens_per_solution"] else float("inf")
        print(f"{name:45s} {row['label_agreement']:9.3f} {row['first_error_accuracy']:13.3f} "
              f"{row['tokens_per_solution']:10.1f} {row['rollouts_per_solution']:12.1f} {saving:8.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "median": table, "runs": runs}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
