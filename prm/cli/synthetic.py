"""`prm synthetic`: write disjoint synthetic problem sets (one file per split) with exact step truth.

Public: `add_arguments(parser)`, `run(args) -> int`.

    prm synthetic --out runs/loop/problems --split sft=512 label=512 val=100 test=300 --seed 0

Split i holds the problems numbered after every earlier split's (ids `synthetic-<seed>-<index>`),
and a problem whose question text already appeared (in any split) is skipped, so no question is
in two splits; `manifest.json` records the task settings, each split's index range and how many
duplicates were skipped, and a second run into the same folder refuses other settings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from prm.atomic import atomic_write
from prm.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for <split>.jsonl and manifest.json")
    parser.add_argument("--split", nargs="+", required=True, metavar="NAME=COUNT",
                        help="splits in order, e.g. sft=512 label=512 val=100 test=300")
    parser.add_argument("--seed", type=int, default=0, help="task seed (problem i of a seed is fixed)")
    parser.add_argument("--min-ops", type=int, default=1, help="fewest operations per problem")
    parser.add_argument("--max-ops", type=int, default=2, help="most operations per problem")
    parser.add_argument("--max-operand", type=int, default=9)


def _splits(specs: list[str]) -> list[tuple[str, int]]:
    splits = []
    for spec in specs:
        name, sep, count = spec.partition("=")
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise OptionError("--split", "not NAME=COUNT", "write NAME=COUNT with COUNT >= 1 (e.g. test=300)", spec)
        if name in dict(splits):
            raise OptionError("--split", "names a split twice", "give each split one NAME=COUNT", name)
        splits.append((name, int(count)))
    return splits


def run(args: argparse.Namespace) -> int:
    from prm.data import write_problems
    from prm.data.synthetic import SyntheticConfig, make_problems

    splits = _splits(args.split)
    config = SyntheticConfig(num_steps=(args.min_ops, args.max_ops), max_operand=args.max_operand, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"seed": args.seed, "num_steps": list(config.num_steps), "max_operand": config.max_operand,
                "operations": list(config.operations), "splits": {}}
    seen: set[str] = set()
    index, written = 0, {}
    for name, count in splits:
        problems, start, skipped = [], index, 0
        while len(problems) < count:
            if index - start > 100 * count:
                raise ValueError(f"split {name!r}: too few distinct questions left; widen --max-operand or --max-ops")
            (problem,) = make_problems(1, config, start=index)
            index += 1
            if problem.question in seen:
                skipped += 1
                continue
            seen.add(problem.question)
            problems.append(problem)
        written[name] = problems
        manifest["splits"][name] = {"start": start, "end": index, "count": count,
                                    "duplicates_skipped": skipped, "file": f"{name}.jsonl"}
    path = out / "manifest.json"
    if path.exists() and json.loads(path.read_text()) != manifest:
        raise FileExistsError(f"{path} was written with other settings; use another --out")
    for name, problems in written.items():
        write_problems(problems, out / manifest["splits"][name]["file"])
    atomic_write(path, json.dumps(manifest, indent=2) + "\n")
    print(f"prm synthetic: {', '.join(f'{n} {c}' for n, c in splits)} problems in {out}")
    return 0
