"""Agreement of prm.grading with the peer graders' own test tables.

Reads ../shared/data/answer_equivalence/*.jsonl (Math-Verify's, Hendrycks MATH's and
NeMo-Skills' test cases, with the verdict each project expects), grades every case with
`Grader.grade(gold, pred)` (both argument orders where the peer test is symmetric), prints the
agreement table and every disagreement, and writes them as JSON.

    python benchmarks/grading_agreement.py --data ../shared/data --out runs/grading_agreement.json

`KNOWN_DISAGREEMENTS` lists each case where this grader's verdict differs from the peer's on
purpose or by a documented limit, with the reason (docs/grading.md repeats it); the tests check
that no other case disagrees.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

TABLES = {
    "math-verify": "math_verify_cases.jsonl",
    "hendrycks-math": "hendrycks_math_equivalence_cases.jsonl",
    "nemo-skills": "nemo_skills_math_equal_cases.jsonl",
}

# (table, gold, pred) -> why this grader's verdict differs from the peer test's expectation.
_CONFIG = "the peer test passes a per-case option this grader does not take"
_PARTIAL = "a bare answer must parse as a whole (math-verify reads a prefix and drops the rest)"
_CHAIN = "a predicted equation chain with two unequal number sides is incorrect (math-verify reads its last side)"
_EUROPEAN = "a comma between digits that is not a thousands separator reads as a list (no decimal commas)"
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {
    ("math-verify", "1000.99", "1000,99"): _EUROPEAN,
    ("math-verify", "1,22", "1.22"): _EUROPEAN,
    ("math-verify", "$9$", "Answer $ \n 9 \n $"): "math-verify rejects a line break inside inline math; "
    "prm.grading reads the only math in the answer",
    ("math-verify", "$9$", "Answer \\( \n 9 \n \\)"): "math-verify rejects a line break inside inline math; "
    "prm.grading reads the only math in the answer",
    ("math-verify", "$(\\begin{pmatrix}\\frac{1}{3}\\\\ \\frac{1}{5} \\end{pmatrix})$",
     "$\\begin{pmatrix}0.33\\\\0.2 \\end{pmatrix}$"): _CONFIG + " (precision=2); at the fixed 6 digits 0.33 != 1/3",
    ("math-verify", "$(\\frac{3}{5},\\frac{8}{3}]$", "$(0.6,2.6667]$"): _CONFIG
    + " (precision=2); at the fixed 6 digits 2.6667 != 8/3",
    ("math-verify", "$\\frac{1}{3}$", "0.3333$"): _CONFIG + " (precision=4); at the fixed 6 digits 0.3333 != 1/3",
    ("math-verify", "$x \\in [-2,7]$", "$-2 \\\\le x \\\\le 7$"): _CONFIG
    + " (allow_set_relation_comp=True); a set gold is not matched by an inequality",
    ("math-verify", "$f(x)$", "$f(y)$"): _CONFIG + " (strict=False); variable names matter here",
    ("math-verify", "\\\\boxed{W(n) = 1 \\\\text{ and } W(n) = -1", "W(x)=1orW(x)=-1"): "the gold "
    "is an unclosed box (the test string lost its closing brace), and an unclosed box is no answer: ungradable",
    ("math-verify", "$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$"): _PARTIAL
    + "; the LaTeX parser rejects `\\frac{1}{\\mathrm{e}}`, so math-verify compares the leading 1 of "
    "both; here the gold cannot be parsed (ungradable)",
    ("math-verify", "$10/9$", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $"): _CHAIN + " (1/2 = 10/9)",
    ("math-verify", "$x = 1/3$", "$x = 5+5+1 = 1/3 \\approx 11$"): _CHAIN + " (5+5+1 = 1/3)",
    ("math-verify", "$x = 11$", "$x = 5+5+1 = 7 =11$"): _CHAIN + " (5+5+1 = 7 = 11)",
    ("math-verify", "$z = 1 + 1 = 2$", "$z = 3+3 = 2$"): _CHAIN + " (3+3 = 2)",
    ("nemo-skills", "185", "185\\"): _PARTIAL + "; `185\\` (a trailing backslash, as left by a cut-off "
    "command) is not read as 185",
    ("nemo-skills", "185\\", "185"): _PARTIAL + "; as the gold, `185\\` cannot be parsed (ungradable)",
    ("hendrycks-math", "10, 4, -2", "4, 10, -2"): "Hendrycks compares strings, so order matters; "
    "math-verify reads a bare comma list as a set of solutions",
    ("hendrycks-math", "0.1, 4, 2", "4, .1, 2"): "Hendrycks compares strings, so order matters; "
    "math-verify reads a bare comma list as a set of solutions",
    ("nemo-skills", "None", "0"): "a missing gold answer (None) is UNGRADABLE by design, not INCORRECT",
}


_MAX_ANSWER_CHARS = 16_000


def load_cases(data: Path) -> list[dict]:
    """Every case as {table, gold, pred, expected, source}, both orders where symmetric."""
    cases = []
    for table, name in TABLES.items():
        path = data / "answer_equivalence" / name
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                row = json.loads(line)
                orders = [(row["gold"], row["pred"])]
                if row.get("config", {}).get("symmetric"):
                    orders.append((row["pred"], row["gold"]))
                for gold, pred in orders:
                    cases.append(
                        {"table": table, "gold": gold, "pred": pred, "expected": bool(row["expected"]),
                         "source": row.get("source", f"{name}:{number}")}
                    )
    return cases


def _key(case: dict) -> tuple[str, str, str]:
    return (case["table"], str(case["gold"]), str(case["pred"]))


def run_agreement(data: Path, timeout: float = 2.0) -> dict:
    """Grade every case; return {"tables": {...}, "disagreements": [...], "seconds": float}."""
    from prm.grading import Grader

    cases = load_cases(data)
    started = time.perf_counter()
    # Some peer cases pass a whole model output as the prediction: allow long answers here.
    with Grader(timeout=timeout, max_answer_chars=_MAX_ANSWER_CHARS) as grader:
        results = [grader.grade(case["gold"], case["pred"]) for case in cases]
    seconds = time.perf_counter() - started
    tables: dict[str, dict[str, int]] = {}
    disagreements = []
    for case, result in zip(cases, results):
        row = tables.setdefault(case["table"], {"cases": 0, "agree": 0, "disagree": 0, "ungradable": 0})
        row["cases"] += 1
        row["ungradable"] += result.verdict.value == "ungradable"
        if result.is_correct == case["expected"] and result.verdict.value != "ungradable":
            row["agree"] += 1
            continue
        row["disagree"] += 1
        disagreements.append(
            {**case, "verdict": result.verdict.value, "reason": result.reason,
             "known_reason": KNOWN_DISAGREEMENTS.get(_key(case))}
        )
    return {"tables": tables, "disagreements": disagreements, "seconds": seconds, "timeout": timeout,
            "known_disagreements": [list(key) for key in KNOWN_DISAGREEMENTS]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/grading_agreement.json"))
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    report = run_agreement(args.data, args.timeout)
    print(f"{'table':<16}{'cases':>7}{'agree':>7}{'disagree':>10}{'ungradable':>12}{'agreement':>11}")
    for table, row in report["tables"].items():
        share = row["agree"] / row["cases"]
        print(f"{table:<16}{row['cases']:>7}{row['agree']:>7}{row['disagree']:>10}{row['ungradable']:>12}{share:>10.1%}")
    print(f"\n{len(report['disagreements'])} disagreements ({report['seconds']:.1f} s):")
    for item in report["disagreements"]:
        why = item["known_reason"] or (
            f"TIMEOUT ({item['reason']}; a slow or busy machine: rerun with a larger --timeout)"
            if "timeout" in item["reason"] else f"UNEXPECTED ({item['reason']})"
        )
        print(f"- [{item['table']}] gold={str(item['gold'])[:60]!r} pred={str(item['pred'])[-60:]!r} "
              f"expected={item['expected']} got={item['verdict']}: {why}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
