"""Grading throughput (calls per second) on MATH-500 and GSM8K gold answers.

For each data set it times `Grader.grade_many` on four workloads:
- gold vs gold (default grader: the string fast path answers in the calling process);
- gold vs gold through the worker (fast path off): the sympy comparison cost;
- gold vs a wrong answer (the next problem's gold; pairs with the same normal form are skipped);
- gold vs gold reformatted (`$\\boxed{gold}$`), through the worker.
The cache is off so that each call does its work. The worker is started (warmed) before timing.
Each workload runs `--repeats` times; the table shows the median calls/s and the verdict counts
of the first run.

    python benchmarks/bench_grading.py --data ../shared/data --out runs/bench_grading.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def load_golds(data: Path) -> dict[str, list[str]]:
    """MATH-500 `answer` fields and GSM8K test answers (the text after `####`)."""
    with open(data / "math" / "math500_test.jsonl", encoding="utf-8") as handle:
        math500 = [json.loads(line)["answer"] for line in handle if line.strip()]
    with open(data / "gsm8k" / "test.jsonl", encoding="utf-8") as handle:
        gsm8k = [json.loads(line)["answer"].rsplit("####", 1)[-1].strip() for line in handle if line.strip()]
    return {"MATH-500": math500, "GSM8K": gsm8k}


def workloads(golds: list[str]) -> dict[str, tuple[list[tuple[str, str]], bool]]:
    """name -> (pairs, fast_path)."""
    from prm.grading.extract import normalize

    shifted = golds[1:] + golds[:1]
    wrong = [(gold, other) for gold, other in zip(golds, shifted) if normalize(gold) != normalize(other)]
    return {
        "gold vs gold (fast path)": ([(gold, gold) for gold in golds], True),
        "gold vs gold (worker)": ([(gold, gold) for gold in golds], False),
        "gold vs boxed gold (worker)": ([(gold, f"$\\boxed{{{gold}}}$") for gold in golds], False),
        "gold vs wrong answer": (wrong, True),
    }


def run_bench(data: Path, repeats: int, workers: int, timeout: float, limit: int | None) -> list[dict]:
    from prm.grading import Grader

    rows = []
    for dataset, golds in load_golds(data).items():
        golds = golds[:limit] if limit else golds
        for name, (pairs, fast_path) in workloads(golds).items():
            with Grader(timeout=timeout, workers=workers, cache_size=0, fast_path=fast_path) as grader:
                grader.grade_many([("1", "1.0")] * workers)  # start the workers before timing
                rates, counts = [], None
                for _ in range(repeats):
                    started = time.perf_counter()
                    results = grader.grade_many(pairs)
                    rates.append(len(pairs) / (time.perf_counter() - started))
                    counts = counts or collections.Counter(result.verdict.value for result in results)
            rows.append(
                {"dataset": dataset, "workload": name, "calls": len(pairs), "repeats": repeats,
                 "calls_per_s_median": statistics.median(rates), "calls_per_s_all": rates,
                 "verdicts": dict(counts)}
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench_grading.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--limit", type=int, default=None, help="first N problems of each set")
    args = parser.parse_args(argv)
    rows = run_bench(args.data, args.repeats, args.workers, args.timeout, args.limit)
    print(f"{'dataset':<10}{'workload':<30}{'calls':>7}{'calls/s (median)':>18}  verdicts")
    for row in rows:
        verdicts = ", ".join(f"{key} {value}" for key, value in sorted(row["verdicts"].items()))
        print(f"{row['dataset']:<10}{row['workload']:<30}{row['calls']:>7}{row['calls_per_s_median']:>18.1f}  {verdicts}")
    machine = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
               "workers": args.workers, "repeats": args.repeats, "timeout": args.timeout}
    print(f"({args.repeats} repeats, {args.workers} worker(s), {machine['cpus']} CPUs, median shown)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
