"""One sampling step of the transformers engine: full-vocabulary sort vs inverse-CDF without it.

Prints a table and writes JSON. The engine used to sort every row's whole vocabulary on the CPU
at every step; `TransformersEngine._sample` now sorts only for top-p < 1. Both variants are
timed on the same random logits, interleaved, median of the repeats.

    python benchmarks/bench_sampling_step.py --rows 32 --vocab 49152 --repeats 20 --out runs/bench_sampling_step.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _old(logits, generators, temperature):
    import torch

    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    cdf = sorted_probs.cumsum(-1)
    uniforms = torch.cat([torch.rand(1, generator=g) for g in generators])
    picks = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(-1)).clamp(max=cdf.shape[1] - 1)
    return order.gather(1, picks).squeeze(-1)


def _new(engine, logits, generators, sampling):
    return engine._sample(logits, generators, sampling)


def main(argv=None) -> int:
    import torch

    from prm.engines.base import SamplingConfig
    from prm.engines.hf import TransformersEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=49152, help="SmolLM2's vocabulary size")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench_sampling_step.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logits = torch.randn(args.rows, args.vocab, generator=torch.Generator().manual_seed(0))
    generators = [torch.Generator().manual_seed(i) for i in range(args.rows)]
    sampling = SamplingConfig(temperature=0.7)
    engine = TransformersEngine.__new__(TransformersEngine)  # _sample needs no model
    times = {"full sort (before)": [], "no sort (now)": []}
    for _ in range(args.repeats):
        for name, run in (("full sort (before)", lambda: _old(logits, generators, 0.7)),
                          ("no sort (now)", lambda: _new(engine, logits, generators, sampling))):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    base = medians["full sort (before)"]
    print(f"one sampling step, {args.rows} rows x {args.vocab} logits, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'variant':<22}{'ms':>10}{'speedup':>10}")
    for name, value in medians.items():
        print(f"{name:<22}{value:>10.1f}{base / value:>9.1f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"options": vars(args), "median_ms": medians}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
