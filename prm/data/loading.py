"""Pick the reader for a file or a Hugging Face hub dataset.

Public: `load_problems(source, format=None, split=None, ...)`,
`load_stepwise(source, format=None, split=None, ..., **policy)`, `detect_format(row)`,
`format_of(path)`, `PROBLEM_FORMATS`, `STEPWISE_FORMATS`.

`source` is a local path (.jsonl / .json / .parquet) or, when no such path exists, a hub name
(`openai/gsm8k`, with `config_name="main"`) loaded through `datasets.load_dataset`. The format is
named, or recognised from the first row's keys. PRM800K options (`PRM800KPolicy` fields) are
keyword arguments of `load_stepwise`; other formats take none, and an unknown option raises.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from prm.data.errors import DataError, Location, ReadReport, check_on_error
from prm.data.gsm8k import parse_gsm8k_rows
from prm.data.io import FILE_SUFFIXES, iter_rows
from prm.data.math import parse_math_rows
from prm.data.math_shepherd import parse_math_shepherd_rows
from prm.data.prm800k import PRM800KPolicy, parse_prm800k_rows
from prm.data.prm800k_critic import parse_prm800k_critic_rows
from prm.data.problems import parse_problem_rows
from prm.data.processbench import parse_processbench_rows
from prm.data.trl_stepwise import parse_trl_stepwise_rows
from prm.records import Problem, StepwiseSolution

PROBLEM_FORMATS = ("problems", "gsm8k", "math")
STEPWISE_FORMATS = ("prm800k", "prm800k_critic", "math_shepherd", "trl_stepwise", "processbench")
_POLICY_FORMATS = ("prm800k", "prm800k_critic")
_POLICY_FIELDS = tuple(f.name for f in dataclasses.fields(PRM800KPolicy))

Rows = Iterable[tuple[Location, Any]]


def detect_format(row: Any) -> str | None:
    """The reader for a row with these keys, or None when no reader fits."""
    if not isinstance(row, dict):
        return None
    keys = set(row)
    if {"instruction", "next_response"} <= keys:
        return "prm800k_critic"
    if isinstance(row.get("label"), dict) and isinstance(row.get("question"), dict):
        return "prm800k"
    if {"input", "label"} <= keys and isinstance(row["label"], str):
        return "math_shepherd"
    if {"prompt", "completions"} <= keys:
        return "trl_stepwise"
    if {"problem", "steps", "label"} <= keys:
        return "processbench"
    if "question" in keys and "answer" in keys and ({"id", "reference_solution", "meta"} & keys):
        return "problems"
    if "question" in keys and ({"answer", "ground_truth"} & keys):
        return "gsm8k"
    if {"problem", "solution"} <= keys:
        return "math"
    return None


def format_of(path: str | Path, on_error: str = "raise") -> str | None:
    """The reader for a local file, from its first row (None when no reader fits).

    With on_error="skip" the first row that parses decides (bad rows are counted later, when
    the file is read)."""
    for _, row in iter_rows(path, on_error, ReadReport()):
        return detect_format(row)
    return None


def load_problems(
    source: str | Path,
    format: str | None = None,
    split: str | None = None,
    *,
    config_name: str | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[Problem]:
    """Problems (GSM8K or MATH) from a local file or a hub dataset."""
    return _load(source, format, split, config_name, on_error, report, PROBLEM_FORMATS, {})


def load_stepwise(
    source: str | Path,
    format: str | None = None,
    split: str | None = None,
    *,
    config_name: str | None = None,
    on_error: str = "raise",
    report: ReadReport | None = None,
    **policy: Any,
) -> list[StepwiseSolution]:
    """Step-labelled solutions from a local file or a hub dataset.

    policy: `PRM800KPolicy` fields (neutral, unrated, cut_at_first_error, alternatives,
    bad_problem, initial_screening, quality_control), for the two PRM800K formats only.
    """
    return _load(source, format, split, config_name, on_error, report, STEPWISE_FORMATS, policy)


def _load(source, format, split, config_name, on_error, report, allowed, policy):
    check_on_error(on_error)
    if format is not None and format not in allowed:
        raise ValueError(f"format must be one of {', '.join(allowed)}, got {format!r}")
    unknown = sorted(set(policy) - set(_POLICY_FIELDS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; the PRM800K options are {', '.join(_POLICY_FIELDS)}")
    report = report if report is not None else ReadReport()
    path = Path(source)
    if path.exists():
        if split is not None or config_name is not None:
            raise ValueError(f"split/config_name apply to hub datasets only; {str(source)!r} is a local path")
        rows, id_prefix, subset = iter_rows(path, on_error, report), path.stem, path.stem
        known = format_of(path, on_error) if format is None else None
    elif _looks_like_path(str(source)):
        raise DataError(Location(str(source)), None, "an existing file (or a hub dataset name)", reason="file not found", detail="no such file")
    else:
        rows, id_prefix, subset = _hub_rows(str(source), split, config_name, report), f"{source}:{split}", split
        known = None
    if format is None:
        rows, format = _detect(rows, known, source, allowed)
    if policy and format not in _POLICY_FORMATS:
        raise ValueError(f"format {format!r} takes no options; got {', '.join(sorted(policy))}")
    return _parser(format, id_prefix, subset, policy)(rows, on_error, report)


def _detect(rows: Rows, known: str | None, source, allowed) -> tuple[Rows, str]:
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        raise DataError(Location(str(source)), None, "at least one record", detail="an empty file", reason="empty file")
    if not isinstance(first[1], dict) and known is None:
        raise DataError(first[0], None, "a JSON object (a record)", type(first[1]).__name__, reason="not an object")
    detected = known if known is not None else detect_format(first[1])
    if detected is None or detected not in allowed:
        keys = sorted(first[1]) if first is not None and isinstance(first[1], dict) else []
        raise ValueError(
            f"cannot tell which reader fits {str(source)!r} (first row keys: {keys}); "
            f"pass format= one of {', '.join(allowed)}"
        )

    def chained() -> Iterator[tuple[Location, Any]]:
        yield first
        yield from iterator

    return chained(), detected


def _parser(format: str, id_prefix: str, subset: str | None, policy: dict) -> Callable[[Rows, str, ReadReport], list]:
    if format in _POLICY_FORMATS:
        rules = PRM800KPolicy(**policy)
        parse = parse_prm800k_rows if format == "prm800k" else parse_prm800k_critic_rows
        return lambda rows, on_error, report: parse(rows, rules, id_prefix=id_prefix, on_error=on_error, report=report)
    if format == "processbench":
        return lambda rows, on_error, report: parse_processbench_rows(rows, subset=subset, on_error=on_error, report=report)
    if format == "trl_stepwise":
        return lambda rows, on_error, report: parse_trl_stepwise_rows(rows, on_error=on_error, report=report)
    parse = {"problems": parse_problem_rows, "gsm8k": parse_gsm8k_rows, "math": parse_math_rows, "math_shepherd": parse_math_shepherd_rows}[format]
    return lambda rows, on_error, report: parse(rows, id_prefix=id_prefix, on_error=on_error, report=report)


def _looks_like_path(source: str) -> bool:
    return (
        source.lower().endswith(FILE_SUFFIXES)
        or source.startswith(("/", ".", "~"))
        or "\\" in source
        or source.count("/") > 1
    )


def _hub_rows(name: str, split: str | None, config_name: str | None, report: ReadReport) -> Iterator[tuple[Location, Any]]:
    """Rows of a hub dataset split; any failure becomes one clear error naming the dataset."""
    import datasets

    label = f"hub:{name}" + (f"/{config_name}" if config_name else "")
    try:
        dataset = datasets.load_dataset(name, config_name, split=split)
    except Exception as error:  # datasets raises many types (connection, not found, offline)
        raise DataError(Location(label), None, "a loadable Hugging Face dataset", reason="hub dataset unavailable", detail=_hub_failure(error)) from error
    if isinstance(dataset, datasets.DatasetDict):
        if len(dataset) != 1:
            raise ValueError(f"{label} has splits {', '.join(dataset)}; pass split= one of them")
        split, dataset = next(iter(dataset.items()))
    for number, row in enumerate(dataset, start=1):
        report.rows += 1
        yield Location(f"{label}[{split}]", number, "row"), dict(row)


def _hub_failure(error: Exception) -> str:
    """Why the hub load failed, saying so plainly when offline mode forbids downloads."""
    import datasets
    from huggingface_hub import constants

    text = f"{type(error).__name__}: {error}"
    if constants.HF_HUB_OFFLINE or getattr(datasets.config, "HF_DATASETS_OFFLINE", False):
        return (
            f"{text}. Offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), so nothing can be "
            "downloaded and the dataset is not in the local cache: pass a local file path instead, "
            "or turn offline mode off where the network is allowed"
        )
    return f"{text}. It is not an existing local path either: check the name, or pass a local file"
