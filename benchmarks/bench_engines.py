"""Transformers engine speed: shared prefill on/off, and labeling vs raw generate throughput.

What it measures, on one model (default: the embedded SmolLM2-135M, float32, CPU):
  1. Shared prefill: Math-Shepherd-style rollout requests (P step-prefix prompts of a synthetic
     solution, n samples each, fixed max_new_tokens, temperature 0.7, the same seeds) through
     `TransformersEngine` with share_prefill on and off: rollouts/s and generated tokens/s. The
     outputs are compared too (they must be identical: same seeds, same rows).
  2. Engine efficiency: generated tokens/s of a whole labeling pass (`labeling.rollouts.label_steps`,
     Math-Shepherd N rollouts per step, grading with `prm.grading.grade_solution`, the engine's
     batching) against the engine's raw throughput on one full batch of the same shape
     (`engine.generate`, all rows at once), and with --with-hf-generate against `model.generate`
     (transformers' own batched sampling, min_new_tokens = max_new_tokens) on the same rows.
Each timing is the median of --repeats interleaved rounds, as wall time and as this process's
CPU time (the machine may be shared). Output: a table and a JSON file.

    python benchmarks/bench_engines.py [--model embedded --threads 2 --repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _tokens(completions) -> int:
    return sum(c.num_tokens for row in completions for c in row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=8, help="n per prompt (rollouts per step)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--with-hf-generate", action="store_true", help="also time model.generate (slow)")
    parser.add_argument("--out", default="runs/bench_engines.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from labeling.estimators import EstimatorConfig
    from labeling.rollouts import LabelTask, RolloutConfig, label_steps, rollout_prompt
    from labeling.sampling import DEFAULT_TEMPLATE, policy_prompt
    from prm.data.synthetic import SyntheticConfig, make_problems
    from prm.engines.base import SamplingConfig, row_seed
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig
    from prm.grading import grade_solution
    from prm.modeling.loading import load_causal_lm
    from prm.steps import StepFormat

    model, tokenizer = load_causal_lm(args.model)
    step_format = StepFormat()
    problem = make_problems(1, SyntheticConfig(num_steps=5))[0]
    steps = tuple(step_format.split(problem.reference_solution))
    prompt = policy_prompt(problem.question, DEFAULT_TEMPLATE)
    prompts = [rollout_prompt(prompt, steps, i, step_format) for i in range(len(steps) - 1)]
    seeds = [row_seed("bench", i) for i in range(len(prompts))]
    sampling = SamplingConfig(n=args.samples, temperature=0.7, max_new_tokens=args.max_new_tokens)
    prompt_tokens = [len(tokenizer.encode(p)) for p in prompts]
    results: dict = {"args": vars(args), "prompt_tokens": prompt_tokens}

    shared_engine = TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=args.batch_size))
    separate_engine = TransformersEngine(
        model, tokenizer, TransformersEngineConfig(batch_size=args.batch_size, share_prefill=False)
    )
    task = LabelTask("bench", prompt, steps, problem.answer, "correct")
    estimator = EstimatorConfig("math_shepherd", rollouts=args.samples)
    rollout = RolloutConfig(SamplingConfig(temperature=0.7, max_new_tokens=args.max_new_tokens, seed=None))
    rows = [p for p in prompts for _ in range(args.samples)]

    def hf_generate():
        tokenizer.padding_side = "left"
        batch = tokenizer(rows, return_tensors="pt", padding=True)
        with torch.inference_mode():
            model.generate(**batch, do_sample=True, temperature=0.7, top_p=1.0, top_k=0,
                           max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens,
                           pad_token_id=tokenizer.pad_token_id)
        return len(rows) * args.max_new_tokens

    workloads = {
        "engine, shared prefill": lambda: _tokens(shared_engine.generate(prompts, sampling, seeds=seeds)),
        "engine, separate prefill": lambda: _tokens(separate_engine.generate(prompts, sampling, seeds=seeds)),
        "labeling (Math-Shepherd)": lambda: label_steps([task], shared_engine, grade_solution, estimator, rollout, step_format)[0].generated_tokens,
    }
    if args.with_hf_generate:
        workloads["transformers generate()"] = hf_generate
    shared_engine.generate(prompts[:1], SamplingConfig(n=2, max_new_tokens=2))  # warm-up
    grade_solution("1", "The answer is 1.")  # start the grading worker
    # Rounds interleave the workloads so that load from other processes hits them alike; CPU
    # time of this process is reported beside wall time because the machine is shared.
    samples = {name: [] for name in workloads}
    for _ in range(args.repeats):
        for name, work in workloads.items():
            wall, cpu = time.perf_counter(), time.process_time()
            tokens = work()
            samples[name].append((time.perf_counter() - wall, time.process_time() - cpu, tokens))
    table = {}
    for name, runs in samples.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        tokens = statistics.median(r[2] for r in runs)
        table[name] = {"wall_s": wall, "cpu_s": cpu, "tokens": tokens, "tokens_per_wall_s": tokens / wall,
                       "tokens_per_cpu_s": tokens / cpu, "rollouts_per_wall_s": len(rows) / wall,
                       "rollouts_per_cpu_s": len(rows) / cpu}
    results["table"] = table
    results["prefill_outputs_identical"] = (
        shared_engine.generate(prompts, sampling, seeds=seeds) == separate_engine.generate(prompts, sampling, seeds=seeds)
    )
    base = table["engine, shared prefill"]
    for name in [n for n in workloads if n != "engine, shared prefill"]:
        results[f"{name} / engine shared, tokens per s"] = {
            "wall": table[name]["tokens_per_wall_s"] / base["tokens_per_wall_s"],
            "cpu": table[name]["tokens_per_cpu_s"] / base["tokens_per_cpu_s"],
        }

    print(f"model {args.model}, {args.threads} threads, {len(prompts)} prefixes x n={args.samples} = {len(rows)} rollouts, "
          f"max_new_tokens={args.max_new_tokens}, prompt tokens {prompt_tokens}; median of {args.repeats} interleaved rounds")
    print(f"  {'workload':26s} {'wall s':>8s} {'cpu s':>8s} {'tokens':>7s} {'tok/wall s':>10s} {'tok/cpu s':>10s} {'rollouts/wall s':>15s}")
    for name, row in table.items():
        print(f"  {name:26s} {row['wall_s']:8.2f} {row['cpu_s']:8.2f} {row['tokens']:7.0f} {row['tokens_per_wall_s']:10.1f} "
              f"{row['tokens_per_cpu_s']:10.1f} {row['rollouts_per_wall_s']:15.2f}")
    print(f"  shared-prefill outputs identical to separate prefill: {results['prefill_outputs_identical']}")
    for key, value in results.items():
        if key.endswith("tokens per s"):
            print(f"  {key}: {value['wall']:.2f} (wall), {value['cpu']:.2f} (cpu)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
