"""`prm data`: parse every data file under a folder (or one file) and print record counts.

    prm data --data-root ../shared/data       # every .jsonl/.json/.parquet, reader by shape
    prm data --data x.jsonl --format prm800k --neutral drop --cut-at-first-error
    prm data --data trl-lib/math_shepherd@train   # a hub dataset, through datasets.load_dataset

Prints one table row per file: the reader, rows parsed, records made, rows skipped per reason
and notes (e.g. PRM800K conversations and distinct problems). Files that no reader fits (the
answer-equivalence cases) are parsed as strict rows and shown as `rows`. Exits 1 when any file
fails (under `--on-error raise`, the default) or cannot be read.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from prm.cli import options, wiring
from prm.data.errors import ON_ERROR, DataError, Location, ReadReport
from prm.data.io import FILE_SUFFIXES, iter_rows
from prm.data.loading import PROBLEM_FORMATS, STEPWISE_FORMATS, format_of, load_problems, load_stepwise
from prm.data.prm800k import RATING_POLICIES, RECORD_POLICIES
from prm.errors import OptionError

logger = logging.getLogger(__name__)
_POLICY_FORMATS = ("prm800k", "prm800k_critic")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-root", dest="root", type=Path, help="parse every data file under this folder")
    where.add_argument("--data", dest="file", type=Path,
                       help="parse this one data set: a file or a hub dataset owner/name[:config][@split]")
    parser.add_argument("--format", choices=PROBLEM_FORMATS + STEPWISE_FORMATS, help="reader for --data (default: by shape)")
    parser.add_argument("--on-error", choices=ON_ERROR, default="raise", help="stop at a bad record, or skip and count it")
    policy = parser.add_argument_group("PRM800K options")
    policy.add_argument("--neutral", choices=RATING_POLICIES, default="positive", help="label of a neutral (0) rating")
    policy.add_argument("--unrated", choices=RATING_POLICIES, default="drop", help="label of a null rating")
    policy.add_argument("--cut-at-first-error", action="store_true", help="end each record at its first bad step")
    policy.add_argument("--alternatives", action=argparse.BooleanOptionalAction, default=True,
                        help="also emit each rated non-chosen candidate (default: on)")
    policy.add_argument("--bad-problem", choices=RECORD_POLICIES, default="skip", help="a problem flagged bad")
    policy.add_argument("--initial-screening", choices=RECORD_POLICIES, default="skip",
                        help="a record from the initial screening round")
    policy.add_argument("--quality-control", choices=RECORD_POLICIES, default="keep", help="a quality-control record")
    options.deprecate(parser, "--root", "--data-root")
    options.deprecate(parser, "--file", "--data")


def run(args: argparse.Namespace) -> int:
    policy = policy_of(args)
    if args.root is None:
        return _one_file(args, policy)
    if args.format is not None:
        raise OptionError("--format", "applies to --data only", "drop it or name one --data")
    if not args.root.is_dir():
        raise NotADirectoryError(f"--data-root {args.root} is not a folder; point it at the data folder")
    files = sorted(p for p in args.root.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
    base = args.root
    table = []
    failed = 0
    for path in _progress(files):
        name = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        report = ReadReport()
        try:
            reader = args.format or _shape(path, args.on_error)
            parse_file(path, reader, args.on_error, report, policy)
        except (DataError, ValueError) as error:
            failed += 1
            table.append((name, "FAILED", "", "", str(error)))
            continue
        table.append(_row(name, reader, report))
        for example in report.examples[:3]:
            logger.warning("skipped: %s", example)
    _print_table(table)
    return 1 if failed else 0


def _one_file(args: argparse.Namespace, policy: dict) -> int:
    """--data: a bad or empty file is an error (one line, exit code 2), not a table row."""
    path = args.file
    hub = None if path.exists() else wiring.hub_dataset(str(path))
    if hub is not None:
        return _hub(args, hub, policy)
    if not path.is_file():
        raise FileNotFoundError(f"--data {path}: no such file" + (" (a folder: use --data-root)" if path.is_dir() else ""))
    report = ReadReport()
    reader = args.format or _shape(path, args.on_error)
    rows = parse_file(path, reader, args.on_error, report, policy)
    if reader == "rows" and rows and not isinstance(rows[0][1], dict):
        raise DataError(rows[0][0], None, "JSON objects (rows of a data set)", type(rows[0][1]).__name__, reason="not an object")
    if report.rows == 0:
        raise DataError(Location(str(path)), None, "at least one row", detail="an empty file", reason="empty file")
    for example in report.examples[:3]:
        logger.warning("skipped: %s", example)
    _print_table([_row(path.name, reader, report)])
    return 0


def _hub(args: argparse.Namespace, hub: tuple, policy: dict) -> int:
    """A hub dataset: its records through the reader --format names (default: a step-wise one, by shape)."""
    name, config_name, split = hub
    report = ReadReport()
    where = {"split": split, "config_name": config_name, "on_error": args.on_error, "report": report}
    if args.format in PROBLEM_FORMATS:
        load_problems(name, args.format, **where)
    else:
        load_stepwise(name, args.format, **where, **(policy if args.format in _POLICY_FORMATS else {}))
    _print_table([_row(str(args.file), args.format or "recognised", report)])
    return 0


def _row(name: str, reader: str, report: ReadReport) -> tuple[str, ...]:
    skipped = ", ".join(f"{n} {r}" for r, n in sorted(report.skipped.items()))
    notes = ", ".join(f"{n} {e}" for e, n in sorted(report.notes.items()))
    return (name, reader, str(report.rows), str(report.records),
            "; ".join(x for x in (skipped and "skipped " + skipped, notes) if x))


def policy_of(args: argparse.Namespace) -> dict:
    """The PRM800K policy options as keyword arguments."""
    return {
        "neutral": args.neutral,
        "unrated": args.unrated,
        "cut_at_first_error": args.cut_at_first_error,
        "alternatives": args.alternatives,
        "bad_problem": args.bad_problem,
        "initial_screening": args.initial_screening,
        "quality_control": args.quality_control,
    }


def parse_file(path: Path, reader: str, on_error: str, report: ReadReport, policy: dict) -> list:
    """Records of one file with the named reader ("rows": strict rows, no records)."""
    if reader == "rows":
        rows = list(iter_rows(path, on_error, report))
        return rows
    if reader in PROBLEM_FORMATS:
        return load_problems(path, reader, on_error=on_error, report=report)
    options = policy if reader in _POLICY_FORMATS else {}
    return load_stepwise(path, reader, on_error=on_error, report=report, **options)


def _shape(path: Path, on_error: str) -> str:
    return format_of(path, on_error) or "rows"


def _progress(files):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency; stay usable without it
        return files
    return tqdm(files, desc="files", unit="file", leave=False)


def _print_table(table: list[tuple[str, ...]]) -> None:
    header = ("file", "reader", "rows", "records", "skipped / notes")
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(4)]
    for row in [header, *table]:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3].rjust(widths[3]), row[4]]
        print("  ".join(cells).rstrip())
