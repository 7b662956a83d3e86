"""The docs-ready JSON of `benchmarks/overoptimization.sh`.

    python benchmarks/overoptimization.py OUT DOCS_JSON --single NAME --ensemble NAME --weak NAME \
        [--setup key=value ...]

Reads OUT/curves/overoptimization.json (written by `prm eval overoptimization`) and OUT/times,
and writes, per n: n, KL_bon, and for the single PRM, the ensemble and the weak proxy the mean
proxy score and the gold accuracy (final answer; all steps) of the picks with their 95%
intervals; plus where each gold curve peaks and whether it falls after the peak.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("docs_json", type=Path)
    parser.add_argument("--single", required=True, help="proxy name of the single PRM")
    parser.add_argument("--ensemble", required=True, help="proxy name of the ensemble")
    parser.add_argument("--weak", required=True, help="proxy name of the weak proxy")
    parser.add_argument("--setup", nargs="*", default=[], help="key=value pairs recorded as the setup")
    args = parser.parse_args()
    report = json.loads((args.out / "curves" / "overoptimization.json").read_text())
    roles = {"single_prm": args.single, "ensemble": args.ensemble, "weak_proxy": args.weak}
    missing = [name for name in roles.values() if name not in report["proxies"]]
    if missing:
        raise SystemExit(f"no proxy {missing} in the report; it has {sorted(report['proxies'])}")
    per_n: dict[int, dict] = {}
    for role, name in roles.items():
        for row in report["proxies"][name]:
            entry = per_n.setdefault(row["n"], {"n": row["n"], "kl": row["kl"]})
            entry[role] = {"proxy_score": row["proxy"], "gold_final_answer": row["final_answer"],
                           "gold_all_steps": row["all_steps"]}
    times = {p.name: int(p.read_text()) for p in sorted((args.out / "times").glob("*"))}
    payload = {
        "what": "best-of-n by a proxy reward on the synthetic task, gold = the exact truth, against "
                "KL_bon = log n - (n-1)/n; means over problems, exact over the n-subsets of each pool "
                "(ties split), 95% bootstrap intervals over problems",
        "command": "bash benchmarks/overoptimization.sh",
        "setup": dict(item.split("=", 1) for item in args.setup),
        "proxies": roles,
        "per_n": [per_n[n] for n in sorted(per_n)],
        "bends": {measure: {role: bends[name] for role, name in roles.items()}
                  for measure, bends in report["bends"].items()},
        "length_bias": {role: report["length_bias"][name] for role, name in roles.items()},
        "problems": report["config"]["problems"],
        "pool_size": report["config"]["pool_size_min"],
        "seconds": times,
    }
    args.docs_json.parent.mkdir(parents=True, exist_ok=True)
    args.docs_json.write_text(json.dumps(payload, indent=2) + "\n")
    for role, name in roles.items():
        bend = payload["bends"]["final_answer"][role]
        print(f"{role} ({name}): final-answer gold peaks at n={bend['peak_n']} ({100 * bend['peak']:.1f}%), "
              f"{100 * bend['last']:.1f}% at n={bend['last_n']}; falls: {bend['falls']}")


if __name__ == "__main__":
    main()
