"""Reward-server load: requests/s and latency of `prm serve` under concurrent clients.

Usage:
  python benchmarks/bench_serve.py [--concurrency 1 8] [--requests 200] [--queries 4]
      [--repeats 3] [--batch-size 64] [--max-wait-ms 5] [--out runs/bench_serve.json]

What it measures: a tiny reward model (the tests' 2-layer Llama, `prm.testing`, step head,
random weights; saved to a temporary folder) served by `prm serve` in its own process on
127.0.0.1. For each concurrency C, C client threads (one HTTP connection each) send
`--requests` POST /get_reward requests in all, each a batch of `--queries` queries (a GRPO
group: prompt + a 2-4 step response, ~40 tokens); one warm-up round first. Each repeat
reports requests/s (wall time of the round) and the latency of every request; the table shows
the median requests/s over `--repeats` rounds and p50/p99 latency over all their requests,
plus the server's forwards per request (how much concurrent requests were merged). Speed
depends on the machine and its load; tests never assert it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ["3 + 4 = 7.", "Then 7 * 2 = 14.", "We subtract 4 to get 10.", "So the total is 10.", "The answer is 10."]


def _folder(directory: Path) -> Path:
    import torch

    from prm.modeling import RewardConfig, RewardModel
    from prm.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=("step",)))
    with torch.no_grad():
        model.step_head.linear.weight.mul_(8)
    return model.save_pretrained(directory / "rm", tokenizer)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _body(rng: random.Random, queries: int) -> dict:
    prompt = "What is 3 + 4, times 2, minus 4?"
    responses = ["\n\n".join(rng.sample(STEPS, rng.randint(2, 4))) for _ in range(queries)]
    return {"query": [prompt + "\n\n" + r for r in responses], "prompts": [prompt] * queries}


def _round(url: str, concurrency: int, requests: int, queries: int, seed: int) -> tuple[float, list[float]]:
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    share = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        with httpx.Client(timeout=60) as session:
            for _ in range(share[index]):
                started = time.perf_counter()
                response = session.post(url + "/get_reward", json=_body(rng, queries))
                response.raise_for_status()
                assert len(response.json()["rewards"]) == queries
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> int:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--queries", type=int, default=4, help="queries per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="prm serve --batch-size")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="prm serve --max-wait-ms")
    parser.add_argument("--out", default="runs/bench_serve.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        folder = _folder(Path(directory))
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "prm.cli", "serve", "--prm", str(folder), "--port", str(port),
                   "--batch-size", str(args.batch_size), "--max-wait-ms", str(args.max_wait_ms)]
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"prm serve exited with {server.returncode}")
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("prm serve did not answer /health within 120 s")
                time.sleep(0.2)
            for concurrency in args.concurrency:
                _round(url, concurrency, max(concurrency, 20), args.queries, seed=-1)  # warm-up
                rates, latencies = [], []
                calls_before = httpx.get(url + "/health").json()["scorer_calls"]
                for repeat in range(args.repeats):
                    seconds, round_latencies = _round(url, concurrency, args.requests, args.queries, seed=repeat)
                    rates.append(len(round_latencies) / seconds)
                    latencies += round_latencies
                rows.append({
                    "concurrency": concurrency, "requests_per_round": args.requests, "queries_per_request": args.queries,
                    "repeats": args.repeats, "requests_per_s_median": statistics.median(rates),
                    "requests_per_s": rates, "latency_p50_ms": 1000 * _percentile(latencies, 0.50),
                    "latency_p99_ms": 1000 * _percentile(latencies, 0.99),
                    "scorer_calls_per_request": (httpx.get(url + "/health").json()["scorer_calls"] - calls_before)
                    / len(latencies),
                })
        finally:
            server.terminate()
            server.wait(30)

    print(f"prm serve, tiny 2-layer Llama PRM on CPU, {args.queries} queries/request, "
          f"--batch-size {args.batch_size} --max-wait-ms {args.max_wait_ms:g}, {args.repeats} repeats")
    print(f"{'concurrency':>11} {'req/s (median)':>15} {'queries/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'forwards/req':>12}")
    for row in rows:
        print(f"{row['concurrency']:>11} {row['requests_per_s_median']:>15.1f} "
              f"{row['requests_per_s_median'] * args.queries:>10.1f} {row['latency_p50_ms']:>8.1f} {row['latency_p99_ms']:>8.1f} "
              f"{row['scorer_calls_per_request']:>12.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": "prm.testing tiny 2-layer Llama (random init)", "cpu_count": os.cpu_count(),
            "batch_size": args.batch_size, "max_wait_ms": args.max_wait_ms}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
