"""Transformers engine speed: decode throughput against the reference loop and the FLOP limit.

Parts (--parts, comma separated; default "throughput"):
  throughput  New tokens/s of `TransformersEngine` at batch 16, 32 and 64 (prompts x samples
      rows, --samples per prompt, --max-new-tokens each, temperature 0.7, seeded) on one model
      (default: the embedded SmolLM2-135M, float32, CPU), for the reference decode loop
      (impl="reference", the loop before issue 12) and the fast one (impl="fast"), in the same
      run: every repeat times each engine in turn at each batch (interleaved), and the figure
      is the median of --repeats. With bf16 support on the CPU (or on CUDA), the fast loop
      also runs on a bfloat16 copy of the model (`fast_bf16`; other numerics, so not in the
      equality check). Beside them, in the same run, the FLOP limit of the same shapes: a
      matmul benchmark over the model's own linear layers (its weights, every layer, LM head
      included) with `batch` rows of input, which is what one decode step at that batch can
      reach at best (attention, norms and sampling excluded): `flop_limit.tokens_per_s` =
      rows / seconds per pass. `hot_gflops` is the same shapes with one weight of each shape
      reused (cache resident), the peak a benchmark of the bare shapes shows.
      Also `labeling_rows_per_engine_call`: the median rows (prompts x n) of the engine calls
      of one labeling group (`labeling.pipeline.make_processor`, the `prm label` defaults:
      16 problems, 4 samples, binary search with 4 rollouts) and vLLM (CPU) on the same
      prompts where --vllm-python exists (skipped with a note otherwise).
      Fields: `speedup_vs_before` (fast / reference at batch 16), `fraction_of_flop_limit`
      (fast / flop limit at batch 64), `labeling_rows_per_engine_call`.
  prefill     The older comparison: shared prefill on/off on rollout requests, and a whole
      labeling pass against the engine's raw throughput (--prefill-out).

    python benchmarks/bench_engines.py                      # full: ~5 min on a quiet 2-core CPU
    python benchmarks/bench_engines.py --model tiny --quick --out /tmp/engine.json   # smoke, seconds

Writes --out (default docs/results/engine_throughput.json) and prints a table. Wall time and
this process's CPU time are both recorded (the machine may be shared), and the load average
before and after.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LABEL_GROUP = 16  # `prm label --group-size` default: units (problems) per engine batch
VLLM_PYTHON = str(Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python")
_VLLM_RESULT = "VLLM_RESULT "


def _tokens(completions) -> int:
    return sum(c.num_tokens for row in completions for c in row)


def _load(name: str, dtype: str, device: str):
    import torch

    if name == "tiny":
        from prm.testing import tiny_causal_lm, tiny_tokenizer

        tokenizer = tiny_tokenizer()
        model = tiny_causal_lm(tokenizer).to(device, getattr(torch, dtype)).eval()
        return model, tokenizer
    from prm.modeling.loading import load_causal_lm

    return load_causal_lm(name, dtype=dtype, device=device)


def _bf16_ok(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _prompts(count: int) -> list[str]:
    from prm.data.synthetic import SyntheticConfig, make_problems
    from prm.engines.prompts import DEFAULT_TEMPLATE, policy_prompt

    problems = make_problems(count, SyntheticConfig(num_steps=(2, 4)))
    return [policy_prompt(p.question, DEFAULT_TEMPLATE) for p in problems]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def flop_limit(model, rows: int, repeats: int, device: str) -> dict:
    """Seconds of one pass over every linear layer of `model` at `rows` input rows (median of
    `repeats`, after a warm-up), its GFLOPS and rows / seconds; and the GFLOPS with one weight
    of each shape reused (cache resident)."""
    import torch

    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    flops = 2 * rows * sum(w.numel() for w in weights)
    inputs = {w.shape[1]: torch.randn(rows, w.shape[1], dtype=w.dtype, device=w.device) for w in weights}

    def timed(selection) -> float:
        times = []
        with torch.inference_mode():
            for index in range(repeats + 1):
                start = time.perf_counter()
                for w in selection:
                    torch.nn.functional.linear(inputs[w.shape[1]], w)
                _sync(device)
                if index:
                    times.append(time.perf_counter() - start)
        return statistics.median(times)

    seconds = timed(weights)
    shapes: dict = {}
    for w in weights:
        shapes.setdefault(tuple(w.shape), w)
    hot_weights = [shapes[s] for s in shapes for _ in range(8)]  # each shape, the same weight 8 times
    hot_seconds = timed(hot_weights)
    hot_flops = 2 * rows * sum(w.numel() for w in hot_weights)
    return {
        "rows": rows, "linear_layers": len(weights), "flop_per_token": flops / rows, "seconds_per_pass": seconds,
        "gflops": flops / seconds / 1e9, "tokens_per_s": rows / seconds, "hot_gflops": hot_flops / hot_seconds / 1e9,
        "shapes": [list(s) for s in shapes],
    }


def labeling_rows(engine, problems_count: int, samples: int, rollouts: int, max_new_tokens: int) -> dict:
    """Rows per engine call over one labeling group (the `prm label` defaults)."""
    from labeling.estimators import EstimatorConfig
    from labeling.pipeline import LabelingJob, make_processor, problem_units
    from labeling.rollouts import RolloutConfig
    from prm.data.synthetic import SyntheticConfig, make_problems
    from prm.engines.base import SamplingConfig
    from prm.grading import grade_solution
    from prm.steps import StepFormat

    problems = make_problems(problems_count, SyntheticConfig(num_steps=(2, 4), seed=7))
    job = LabelingJob(
        samples=samples, estimator=EstimatorConfig("binary_search", rollouts=rollouts),
        rollout=RolloutConfig(SamplingConfig(temperature=0.7, max_new_tokens=max_new_tokens, seed=None)),
        step_format=StepFormat(),
    )
    calls, batches = len(engine.rows_per_call), len(engine.rows_per_batch)
    started = time.perf_counter()
    make_processor(job, engine, grade_solution)(problem_units(problems, samples))
    per_call, per_batch = engine.rows_per_call[calls:], engine.rows_per_batch[batches:]
    return {
        "problems": problems_count, "samples": samples, "method": "binary_search", "rollouts": rollouts,
        "max_new_tokens": max_new_tokens, "engine_batch_size": engine.config.batch_size,
        "rows_per_call": per_call, "rows_per_batch": per_batch, "median_rows_per_call": statistics.median(per_call),
        "median_rows_per_batch": statistics.median(per_batch), "seconds": time.perf_counter() - started,
    }


def vllm_throughput(python: str, model: str, batches, samples: int, max_new_tokens: int, repeats: int) -> dict:
    """vLLM on the same prompts, in its own environment (a subprocess running --vllm-worker)."""
    if model == "tiny":
        return {"skipped": "no vLLM run for the in-process tiny model"}
    if not Path(python).exists():
        return {"skipped": f"{python} does not exist (no vLLM environment on this machine)"}
    command = [python, str(Path(__file__).resolve()), "--vllm-worker", "--model", model, "--samples", str(samples),
               "--max-new-tokens", str(max_new_tokens), "--repeats", str(repeats),
               "--batches", ",".join(str(b) for b in batches)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    except subprocess.TimeoutExpired:
        return {"skipped": "the vLLM run passed 30 minutes"}
    if done.returncode != 0:
        return {"skipped": f"the vLLM run failed: {done.stderr.strip()[-800:]}"}
    # vLLM's own log lines reach stdout too, some after the result: find the result's line.
    lines = [line for line in done.stdout.splitlines() if line.startswith(_VLLM_RESULT)]
    if not lines:
        return {"skipped": f"the vLLM run printed no result: {done.stdout.strip()[-800:]}"}
    return json.loads(lines[-1][len(_VLLM_RESULT):])


def vllm_worker(args) -> int:
    """Inside the vLLM environment: tokens/s per batch, printed as one JSON line."""
    from prm.engines.base import SamplingConfig
    from prm.engines.vllm import VLLMEngine, VLLMEngineConfig
    from prm.modeling.loading import resolve_model

    engine = VLLMEngine(str(resolve_model(args.model)), VLLMEngineConfig(seed=0, dtype="float32"))
    result = {}
    for rows in args.batches:
        prompts = _prompts(max(1, rows // args.samples))
        sampling = SamplingConfig(n=args.samples, temperature=0.7, max_new_tokens=args.max_new_tokens, seed=1)
        engine.generate(prompts[:1], SamplingConfig(n=2, max_new_tokens=2))
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            tokens = _tokens(engine.generate(prompts, sampling))
            rates.append(tokens / (time.perf_counter() - start))
        result[str(rows)] = {"tokens_per_s": statistics.median(rates), "runs": rates}
    print(_VLLM_RESULT + json.dumps(result), flush=True)
    return 0


def part_throughput(args) -> dict:
    import torch

    from prm.engines.base import SamplingConfig
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig

    load_before = os.getloadavg()
    model, tokenizer = _load(args.model, "float32", args.device)
    models = {"float32": model}
    with_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and _bf16_ok(args.device))
    if with_bf16:
        models["bfloat16"] = _load(args.model, "bfloat16", args.device)[0]
    variants = {"reference": ("float32", "reference"), "fast": ("float32", "fast")}
    if with_bf16:
        variants["fast_bf16"] = ("bfloat16", "fast")
    prompts = _prompts(max(args.batches) // args.samples + 1)
    sampling = SamplingConfig(n=args.samples, temperature=0.7, max_new_tokens=args.max_new_tokens, seed=1)
    runs: dict = {str(b): {name: [] for name in variants} for b in args.batches}
    outputs: dict = {}
    engines = {
        (b, name): TransformersEngine(models[dtype], tokenizer, TransformersEngineConfig(batch_size=b, impl=impl))
        for b in args.batches for name, (dtype, impl) in variants.items()
    }
    for (b, _name), engine in engines.items():  # warm-up: every engine at its full batch, 2 tokens
        engine.generate(prompts[: max(1, b // args.samples)], SamplingConfig(n=args.samples, max_new_tokens=2))
    for _ in range(args.repeats):  # interleaved: each repeat times every engine at every batch
        for b in args.batches:
            batch_prompts = prompts[: max(1, b // args.samples)]
            for name in variants:
                wall, cpu = time.perf_counter(), time.process_time()
                out = engines[b, name].generate(batch_prompts, sampling)
                _sync(args.device)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                tokens = _tokens(out)
                runs[str(b)][name].append({"wall_s": wall, "cpu_s": cpu, "new_tokens": tokens})
                outputs[b, name] = out
    table: dict = {}
    for b in args.batches:
        row: dict = {}
        for name in variants:
            samples = runs[str(b)][name]
            rates = [r["new_tokens"] / r["wall_s"] for r in samples]
            row[name] = {"tokens_per_s": statistics.median(rates),
                         "tokens_per_cpu_s": statistics.median(r["new_tokens"] / r["cpu_s"] for r in samples),
                         "new_tokens": statistics.median(r["new_tokens"] for r in samples), "runs": samples}
        row["fast_equals_reference"] = outputs[b, "fast"] == outputs[b, "reference"]
        row["flop_limit"] = flop_limit(model, b, max(3, args.repeats), args.device)
        if with_bf16:
            row["flop_limit_bf16"] = flop_limit(models["bfloat16"], b, max(3, args.repeats), args.device)
        table[str(b)] = row
    small, large = str(min(args.batches, key=lambda b: abs(b - 16))), str(max(args.batches))
    result: dict = {
        "batches": table,
        "speedup_vs_before": table[small]["fast"]["tokens_per_s"] / table[small]["reference"]["tokens_per_s"],
        "speedup_batch": int(small),
        "fraction_of_flop_limit": table[large]["fast"]["tokens_per_s"] / table[large]["flop_limit"]["tokens_per_s"],
        "fraction_batch": int(large),
    }
    if with_bf16:
        result["speedup_vs_before_bf16"] = table[small]["fast_bf16"]["tokens_per_s"] / table[small]["reference"]["tokens_per_s"]
        result["fraction_of_flop_limit_bf16"] = (
            table[large]["fast_bf16"]["tokens_per_s"] / table[large]["flop_limit_bf16"]["tokens_per_s"])
    label_engine = TransformersEngine(model, tokenizer, TransformersEngineConfig())  # the CLI's batch size
    labeling = labeling_rows(label_engine, args.label_problems, 4, 4, args.label_max_new_tokens)
    result["labeling_rows_per_engine_call"] = labeling["median_rows_per_call"]
    result["labeling"] = labeling
    result["vllm"] = vllm_throughput(args.vllm_python, args.model, args.batches, args.samples, args.max_new_tokens,
                                     args.repeats)
    result["setup"] = {
        "model": args.model, "device": args.device, "threads": torch.get_num_threads(), "samples": args.samples,
        "max_new_tokens": args.max_new_tokens, "temperature": 0.7, "repeats": args.repeats, "quick": args.quick,
        "prompt_tokens": [len(tokenizer.encode(p)) for p in prompts[: max(1, max(args.batches) // args.samples)]],
        "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    return result


def print_throughput(result: dict) -> None:
    setup = result["setup"]
    print(f"model {setup['model']} on {setup['device']}, {setup['threads']} threads, n={setup['samples']} per prompt, "
          f"{setup['max_new_tokens']} new tokens, median of {setup['repeats']} interleaved repeats")
    names = [n for n in ("reference", "fast", "fast_bf16") if n in next(iter(result["batches"].values()))]
    print(f"  {'batch':>5s} " + " ".join(f"{n + ' tok/s':>16s}" for n in names)
          + f" {'limit tok/s':>12s} {'limit GFLOPS':>12s} {'hot GFLOPS':>10s} {'same':>5s}")
    for batch, row in result["batches"].items():
        limit = row["flop_limit"]
        print(f"  {batch:>5s} " + " ".join(f"{row[n]['tokens_per_s']:16.1f}" for n in names)
              + f" {limit['tokens_per_s']:12.1f} {limit['gflops']:12.1f} {limit['hot_gflops']:10.1f}"
              f" {str(row['fast_equals_reference']):>5s}")
    print(f"  speedup_vs_before (batch {result['speedup_batch']}): {result['speedup_vs_before']:.2f}x; "
          f"fraction_of_flop_limit (batch {result['fraction_batch']}): {result['fraction_of_flop_limit']:.2f}")
    if "speedup_vs_before_bf16" in result:
        print(f"  bf16: {result['speedup_vs_before_bf16']:.2f}x the reference; "
              f"{result['fraction_of_flop_limit_bf16']:.2f} of the bf16 limit")
    labeling = result["labeling"]
    print(f"  labeling_rows_per_engine_call: {result['labeling_rows_per_engine_call']} (calls {labeling['rows_per_call']}, "
          f"decode batches of at most {labeling['engine_batch_size']})")
    vllm = result["vllm"]
    print("  vllm: " + (vllm["skipped"] if "skipped" in vllm else
                        ", ".join(f"batch {b}: {v['tokens_per_s']:.1f} tok/s" for b, v in vllm.items())))


def part_prefill(args) -> dict:
    """Shared prefill on/off, and labeling vs raw engine throughput (the older comparison)."""
    from labeling.estimators import EstimatorConfig
    from labeling.rollouts import LabelTask, RolloutConfig, label_steps, rollout_prompt
    from labeling.sampling import DEFAULT_TEMPLATE, policy_prompt
    from prm.data.synthetic import SyntheticConfig, make_problems
    from prm.engines.base import SamplingConfig, row_seed
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig
    from prm.grading import grade_solution
    from prm.steps import StepFormat

    model, tokenizer = _load(args.model, "float32", args.device)
    step_format = StepFormat()
    problem = make_problems(1, SyntheticConfig(num_steps=5))[0]
    steps = tuple(step_format.split(problem.reference_solution))
    prompt = policy_prompt(problem.question, DEFAULT_TEMPLATE)
    prompts = [rollout_prompt(prompt, steps, i, step_format) for i in range(len(steps) - 1)]
    seeds = [row_seed("bench", i) for i in range(len(prompts))]
    sampling = SamplingConfig(n=args.samples, temperature=0.7, max_new_tokens=args.max_new_tokens)
    results: dict = {"prompt_tokens": [len(tokenizer.encode(p)) for p in prompts]}
    size = max(args.batches)
    shared = TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=size))
    separate = TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=size, share_prefill=False))
    task = LabelTask("bench", prompt, steps, problem.answer, "correct")
    estimator = EstimatorConfig("math_shepherd", rollouts=args.samples)
    rollout = RolloutConfig(SamplingConfig(temperature=0.7, max_new_tokens=args.max_new_tokens, seed=None))
    rows = len(prompts) * args.samples
    workloads = {
        "engine, shared prefill": lambda: _tokens(shared.generate(prompts, sampling, seeds=seeds)),
        "engine, separate prefill": lambda: _tokens(separate.generate(prompts, sampling, seeds=seeds)),
        "labeling (Math-Shepherd)": lambda: label_steps([task], shared, grade_solution, estimator, rollout,
                                                        step_format)[0].generated_tokens,
    }
    shared.generate(prompts[:1], SamplingConfig(n=2, max_new_tokens=2))  # warm-up
    grade_solution("1", "The answer is 1.")  # start the grading worker
    samples: dict = {name: [] for name in workloads}
    for _ in range(args.repeats):
        for name, work in workloads.items():
            wall, cpu = time.perf_counter(), time.process_time()
            tokens = work()
            samples[name].append((time.perf_counter() - wall, time.process_time() - cpu, tokens))
    table = {}
    for name, timings in samples.items():
        wall = statistics.median(r[0] for r in timings)
        cpu = statistics.median(r[1] for r in timings)
        tokens = statistics.median(r[2] for r in timings)
        table[name] = {"wall_s": wall, "cpu_s": cpu, "tokens": tokens, "tokens_per_wall_s": tokens / wall,
                       "tokens_per_cpu_s": tokens / cpu, "rollouts_per_wall_s": rows / wall}
    results["table"] = table
    results["prefill_outputs_identical"] = (
        shared.generate(prompts, sampling, seeds=seeds) == separate.generate(prompts, sampling, seeds=seeds))
    print(f"prefill: {len(prompts)} prefixes x n={args.samples} = {rows} rollouts, median of {args.repeats}")
    for name, row in table.items():
        print(f"  {name:26s} {row['wall_s']:8.2f} s {row['tokens_per_wall_s']:8.1f} tok/s (wall) "
              f"{row['tokens_per_cpu_s']:8.1f} tok/cpu s")
    print(f"  shared-prefill outputs identical to separate prefill: {results['prefill_outputs_identical']}")
    return results


def _batches(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected batch sizes >= 1 such as 16,32,64, got {text!r}")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="throughput", help="throughput,prefill")
    parser.add_argument("--model", default="embedded", help="'embedded', a folder or name, or 'tiny' (in-process)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=_batches, default=[16, 32, 64], help="rows per engine batch")
    parser.add_argument("--samples", type=int, default=8, help="n per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                        help="also time the fast loop on a bfloat16 model (auto: where the CPU/GPU supports bf16)")
    parser.add_argument("--label-problems", type=int, default=LABEL_GROUP)
    parser.add_argument("--label-max-new-tokens", type=int, default=64)
    parser.add_argument("--vllm-python", default=VLLM_PYTHON)
    parser.add_argument("--quick", action="store_true", help="a smoke run: batches 4,8, 4 tokens, 1 repeat")
    parser.add_argument("--out", default="docs/results/engine_throughput.json")
    parser.add_argument("--prefill-out", default="runs/bench_engines.json")
    parser.add_argument("--vllm-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vllm_worker:
        return vllm_worker(args)
    if args.quick:
        args.batches, args.samples, args.max_new_tokens, args.repeats = [4, 8], 2, 4, 1
        args.label_problems, args.label_max_new_tokens = 2, 8
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    for part, out, run in (("throughput", args.out, part_throughput), ("prefill", args.prefill_out, part_prefill)):
        if part not in parts:
            continue
        result = run(args)
        if part == "throughput":
            print_throughput(result)
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
