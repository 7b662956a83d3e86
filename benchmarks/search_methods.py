"""The compute-matched comparison of search methods (issue 15) from a `prm search --results` report.

    python benchmarks/search_methods.py REPORT_DIR OUT_JSON AGGREGATION

REPORT_DIR is the folder `prm search --results bon.jsonl --beam-results ...` wrote
(summary.json and per_problem.json). For every guided method (beam, DVTS, particle filtering,
REBASE) it writes accuracy, generated and scorer tokens per problem, and paired differences with
95% problem-bootstrap intervals against majority vote at the full N and against majority vote,
weighted vote and PRM best-of-k at the k whose generated tokens are closest to the method's
(the compute-matched baselines, read from the same samples). Imports no CLI module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from search.curves import paired_interval


def _paired(a: np.ndarray, b: np.ndarray) -> dict:
    delta = a - b
    low, high = paired_interval(delta, 10_000, 0)
    return {"mean": round(100 * float(delta.mean()), 2), "ci95": [round(100 * float(low), 2), round(100 * float(high), 2)],
            "inside_noise": bool(low <= 0 <= high)}


def build(report: Path, aggregation: str) -> dict:
    summary = json.loads((report / "summary.json").read_text())
    per_problem = json.loads((report / "per_problem.json").read_text())
    bon = dict(summary["methods"]["bon"])
    sampled = report.parent / "test" / "summary.json"  # the loop's run that sampled and scored them
    if not bon.get("scorer_tokens_per_problem") and sampled.exists():
        bon["scorer_tokens_per_problem"] = json.loads(sampled.read_text())["methods"]["bon"]["scorer_tokens_per_problem"]
    n = bon["n"]
    hits = {key: np.array(values) for key, values in per_problem["hits"].items()}
    ids = per_problem["problem_ids"]
    key = f"prm:{aggregation}"
    tokens_per_sample = bon["generated_tokens_per_problem"] / n
    ks = sorted({int(k.rsplit("@", 1)[1]) for k in hits})
    majority = hits[f"majority@{n}"]

    def rule(name: str, k: int) -> dict:
        array = hits[f"{name}@{k}"]
        return {"accuracy": round(100 * float(array.mean()), 2), "generated_tokens_per_problem": round(k * tokens_per_sample, 1),
                "minus_majority": _paired(array, majority) if name != "majority" else None}

    methods: dict[str, dict] = {
        f"majority N={n}": rule("majority", n),
        f"weighted_prm N={n}": rule(f"weighted:{key}", n),
        f"prm_best_of_n N={n}": rule(f"rm:{key}", n),
        f"pass N={n}": rule("pass", n),
    }
    for name, compute in summary["methods"].items():
        if name == "bon":
            continue
        array = np.array([per_problem[f"{name}@beam"][i] for i in ids])
        tokens = compute["generated_tokens_per_problem"]
        k = min(ks, key=lambda k: abs(k * tokens_per_sample - tokens))
        methods[name] = {
            "accuracy": round(100 * float(array.mean()), 2),
            "generated_tokens_per_problem": round(tokens, 1),
            "scorer_tokens_per_problem": round(compute["scorer_tokens_per_problem"], 1),
            "minus_majority": _paired(array, majority),
            "compute_matched": {
                "k": k, "best_of_k_generated_tokens_per_problem": round(k * tokens_per_sample, 1),
                "majority_at_k": round(100 * float(hits[f"majority@{k}"].mean()), 2),
                "minus_majority_at_k": _paired(array, hits[f"majority@{k}"]),
                "minus_weighted_prm_at_k": _paired(array, hits[f"weighted:{key}@{k}"]),
                "minus_prm_best_of_k": _paired(array, hits[f"rm:{key}@{k}"]),
            },
        }
    return {
        "data": summary["data"], "problems": summary["problems"], "n": n, "aggregation": aggregation,
        "best_of_n_generated_tokens_per_sample": round(tokens_per_sample, 2),
        "best_of_n_scorer_tokens_per_problem": round(bon.get("scorer_tokens_per_problem", 0.0), 1),
        "methods": methods,
        "units": "accuracy and differences in points (percent); minus_majority is against majority vote over all N "
                 "samples; ci95: paired bootstrap over problems, 10,000 resamples, seed 0",
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    payload = build(Path(argv[0]), argv[2])
    Path(argv[1]).write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
