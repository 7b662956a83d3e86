"""Scoring speed: PRMScorer vs a bare backbone forward over the same tokens vs per-prefix scoring.

Usage:
  python benchmarks/bench_scoring.py [--model tiny|smollm2-random|embedded|FOLDER]
      [--solutions 64] [--steps 6] [--batch-size 16] [--repeats 3] [--device cpu]
      [--out runs/bench_scoring.json]

What it measures, on synthetic solutions (seeded; prompts of 10-25 words, steps of 5-25 words):
- `prm_scorer`: `PRMScorer.score_steps` end to end (tokenize, length-sort, pad, one forward per
  solution, read every step).
- `backbone_only`: the backbone's forward alone over exactly the batches PRMScorer builds (same
  padded tokens, no tokenization, no heads): the limit PRMScorer can reach.
- `per_prefix`: the naive way, every prefix of every solution scored as its own row (same batch
  size, length-sorted), keeping each prefix's last step.
Each is timed `--repeats` times after one warm-up, the three taking turns; the table shows the
median wall time and the median process CPU time (steadier on a shared machine). solutions/s
counts solutions; tokens/s counts the real (unpadded) tokens of the full solutions, so the three
rows are comparable. Models: `tiny` (tests' 2-layer Llama), `smollm2-random` (the SmolLM2-135M
architecture, randomly initialised, no download; `--layers` makes it shallower for a quick CPU
run), `embedded` or a folder (through `prm.modeling.loading`).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("we", "add", "the", "numbers", "so", "3", "+", "4", "=", "7", "then", "multiply", "by", "12",
         "and", "get", "84", "therefore", "total", "is", "apples", "left", "minus", "divide", "answer")


def _backbone(name: str, layers: int | None):
    from transformers import AutoModelForCausalLM, LlamaConfig

    if name == "tiny":
        from prm.testing import tiny_causal_lm, tiny_tokenizer

        tokenizer = tiny_tokenizer()
        return tiny_causal_lm(tokenizer), tokenizer
    if name == "smollm2-random":
        from prm.testing import tiny_tokenizer

        tokenizer = tiny_tokenizer()
        torch.manual_seed(0)
        config = LlamaConfig(  # SmolLM2-135M's shape; the vocabulary is the small test one
            vocab_size=len(tokenizer), hidden_size=576, intermediate_size=1536, num_hidden_layers=layers or 30,
            num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
            rms_norm_eps=1e-5, tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        )
        return AutoModelForCausalLM.from_config(config), tokenizer
    from prm.modeling.loading import load_causal_lm

    return load_causal_lm(name)


def backbone_batches(scorer, prompts, steps, batch_size: int, device: str):
    """(encoded solutions, [(input_ids, attention_mask)]): the scorer's input, longest first, padded
    in batches of batch_size as the scorer pads them, on the device (for timing the backbone alone)."""
    from prm.scoring import pad_batch

    encoded = scorer.encode(prompts, steps)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids), reverse=True)
    batches = []
    for start in range(0, len(order), batch_size):
        ids, mask, _ = pad_batch([encoded[i].input_ids for i in order[start : start + batch_size]],
                                 scorer.pad_token_id, scorer.padding_side)
        batches.append((ids.to(device), mask.to(device)))
    return encoded, batches


def _solutions(count: int, steps: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    prompts, all_steps = [], []
    for _ in range(count):
        prompts.append("Question: " + " ".join(rng.choices(WORDS, k=rng.randint(10, 25))) + "?")
        k = rng.randint(max(1, steps // 2), steps)
        all_steps.append([" ".join(rng.choices(WORDS, k=rng.randint(5, 25))) + "." for _ in range(k)])
    return prompts, all_steps


def _time_interleaved(runs: dict, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Wall and process-CPU seconds per run; the runs take turns (order rotated every round),
    so a load change on a shared machine hits all of them alike. One warm-up round first."""
    for fn in runs.values():
        fn()
    times = {name: {"wall": [], "cpu": []} for name in runs}
    names = list(runs)
    for round_index in range(repeats):
        for name in names[round_index % len(names):] + names[: round_index % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            runs[name]()
            times[name]["wall"].append(time.perf_counter() - wall)
            times[name]["cpu"].append(time.process_time() - cpu)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--solutions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="at most this many steps per solution")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--layers", type=int, default=None, help="smollm2-random: decoder layers (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench_scoring.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from prm.modeling import RewardModel
    from prm.scoring import PRMScorer

    lm, tokenizer = _backbone(args.model, args.layers)
    model = RewardModel.from_causal_lm(lm, tokenizer).to(args.device, getattr(torch, args.dtype)).eval()
    scorer = PRMScorer(model, tokenizer, batch_size=args.batch_size)
    prompts, steps = _solutions(args.solutions, args.steps, args.seed)

    encoded, batches = backbone_batches(scorer, prompts, steps, args.batch_size, args.device)
    real_tokens = sum(len(e.input_ids) for e in encoded)
    padded_tokens = sum(ids.numel() for ids, _ in batches)

    def backbone_only():
        with torch.inference_mode():
            for ids, mask in batches:
                model.backbone(input_ids=ids, attention_mask=mask, use_cache=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def prm_scorer():
        scorer.score_steps(prompts, steps)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    prefix_prompts = [p for p, s in zip(prompts, steps) for _ in s]
    prefix_steps = [s[: k + 1] for s in steps for k in range(len(s))]
    prefix_tokens = sum(len(e.input_ids) for e in scorer.encode(prefix_prompts, prefix_steps))

    def per_prefix():
        scorer.score_steps(prefix_prompts, prefix_steps)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    runs = {"backbone_only": backbone_only, "prm_scorer": prm_scorer, "per_prefix": per_prefix}
    rows = {}
    for name, measured in _time_interleaved(runs, args.repeats).items():
        median = statistics.median(measured["wall"])
        cpu = statistics.median(measured["cpu"])
        print(f"  {name}: wall {', '.join(f'{t:.3f}' for t in measured['wall'])} s", file=sys.stderr, flush=True)
        rows[name] = {
            "median_s": median,
            "times_s": measured["wall"],
            "median_cpu_s": cpu,
            "cpu_times_s": measured["cpu"],
            "solutions_per_s": len(prompts) / median,
            "tokens_per_s": real_tokens / median,
            "forward_rows": len(prefix_steps) if name == "per_prefix" else len(prompts),
        }
    limit = rows["backbone_only"]["median_s"]
    limit_cpu = rows["backbone_only"]["median_cpu_s"]
    for row in rows.values():
        row["fraction_of_backbone_speed"] = limit / row["median_s"]
        row["fraction_of_backbone_speed_cpu"] = limit_cpu / row["median_cpu_s"]

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    print(f"model {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, {args.dtype}) on {device_name}")
    print(f"{len(prompts)} solutions, {sum(len(s) for s in steps)} steps, {real_tokens} real tokens "
          f"({padded_tokens} padded), batch {args.batch_size}, median of {args.repeats} repeats")
    print(f"{'method':<15}{'median s':>10}{'cpu s':>9}{'solutions/s':>13}{'tokens/s':>10}{'rows':>6}"
          f"{'x backbone':>12}{'x (cpu)':>9}")
    for name, row in rows.items():
        print(f"{name:<15}{row['median_s']:>10.4f}{row['median_cpu_s']:>9.3f}{row['solutions_per_s']:>13.1f}"
              f"{row['tokens_per_s']:>10.0f}{row['forward_rows']:>6}{row['fraction_of_backbone_speed']:>12.3f}"
              f"{row['fraction_of_backbone_speed_cpu']:>9.3f}")
    result = {
        "model": args.model, "dtype": args.dtype, "device": device_name, "solutions": len(prompts),
        "steps": sum(len(s) for s in steps), "real_tokens": real_tokens, "padded_tokens": padded_tokens,
        "prefix_tokens": prefix_tokens, "batch_size": args.batch_size, "repeats": args.repeats, "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
