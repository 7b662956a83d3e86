"""`prm grade`: grade predicted answers against gold answers.

Public: `add_arguments(parser)`, `run(args) -> int`, `read_pairs(path)`.

    prm grade --gold 0.5 --pred '\\frac{1}{2}'
    prm grade --data pairs.jsonl [--extract-answer] [--out runs/grades]   # writes runs/grades/verdicts.jsonl

A pairs file holds one JSON object per line with string fields `gold` and `pred` (with
`--extract-answer`, `pred` is a whole solution whose final answer is extracted first).
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
from pathlib import Path

from prm.atomic import atomic_writer
from prm.cli import options, wiring
from prm.data.errors import DataError, Location
from prm.data.io import iter_rows
from prm.errors import OptionError
from prm.grading.grader import Grader
from prm.grading.result import Verdict

logger = logging.getLogger(__name__)
VERDICTS = "verdicts.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", dest="file", type=Path, help="JSON lines with fields gold and pred")
    source.add_argument("--gold", help="one gold answer (with --pred)")
    parser.add_argument("--pred", help="one predicted answer (with --gold)")
    parser.add_argument("--extract-answer", dest="solutions", action="store_true",
                        help="pred is a whole solution: extract its final answer first")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per grading call")
    parser.add_argument("--grader-workers", dest="workers", type=int, default=1, help="grading worker processes")
    parser.add_argument("--out", type=Path, help=f"output folder; writes {VERDICTS}, one verdict per input line")
    for old, new in (("--file", "--data"), ("--solutions", "--extract-answer"), ("--workers", "--grader-workers")):
        options.deprecate(parser, old, new)


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(gold, pred) pairs from a JSON lines file, read by the strict reader of `prm.data.io`;
    a bad row raises a `DataError` naming the file, the line and the field."""
    pairs = []
    for where, record in iter_rows(path):
        if not isinstance(record, dict):
            raise DataError(where, None, "a JSON object with fields gold and pred", type(record).__name__)
        for name in ("gold", "pred"):
            if name not in record:
                raise DataError(where, name, "a string (each line needs gold and pred)", detail="nothing",
                                reason=f"missing field {name!r}")
            value = record[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
                raise DataError(where, name, "a string", type(value).__name__)
        pairs.append((record["gold"], record["pred"]))
    if not pairs:
        raise DataError(Location(str(path)), None, "lines of {gold, pred}", detail="an empty file", reason="empty file")
    return pairs


def run(args: argparse.Namespace) -> int:
    if args.gold is not None and args.pred is None:
        raise OptionError("--gold", "needs --pred", "give --pred, or use --data pairs.jsonl")
    out = None if args.out is None else wiring.output_file(str(args.out), VERDICTS)
    pairs = read_pairs(args.file) if args.file is not None else [(args.gold, args.pred)]
    with Grader(timeout=args.timeout, workers=args.workers) as grader:
        if args.solutions:
            results = [grader.grade_solution(gold, pred) for gold, pred in pairs]
        else:
            results = grader.grade_many(pairs)
    if args.file is None:
        result = results[0]
        print(f"{result.verdict.value}\t{result.reason}")
        return 0 if result.verdict is not Verdict.UNGRADABLE else 1
    if out is not None:
        with atomic_writer(out) as handle:
            for result in results:
                handle.write(json.dumps({"verdict": result.verdict.value, "reason": result.reason}) + "\n")
        logger.info("wrote %d verdicts to %s", len(results), out)
    counts = collections.Counter(result.verdict.value for result in results)
    for verdict in Verdict:
        print(f"{verdict.value}\t{counts.get(verdict.value, 0)}")
    print(f"total\t{len(results)}")
    return 0
