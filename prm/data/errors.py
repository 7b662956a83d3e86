"""Bad-input errors, the skip policy, and the report that counts what a reader did.

Public: `DataError`, `ReadReport`, `Location`, `ON_ERROR`, `check_on_error`, `report_for`, `collect`,
`collect_objects`, `require_object`, `require`, `require_text`, `require_strings`.

Every reader takes `on_error` ("raise": the first bad record raises a `DataError`; "skip": bad
records are left out and counted in the `ReadReport` under their reason) and an optional
`report` to fill in, so nothing is ever dropped silently. A `DataError` names the file, the
line (or row), the field and what was expected there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

ON_ERROR = ("raise", "skip")
_MAX_EXAMPLES = 10
_MISSING = object()

Record = TypeVar("Record")


@dataclass(frozen=True)
class Location:
    """Where a record came from: a file (or hub split) and its 1-based line or row."""

    path: str
    line: int | None = None
    unit: str = "line"

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}, {self.unit} {self.line}"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DataError(ValueError):
    """A bad input record: names the file, line, field, what was expected and what was found.

    `reason` is the short category a skip policy counts it under (e.g. "invalid JSON",
    "missing field 'answer'", "bad field 'rating'").
    """

    def __init__(
        self,
        where: Location | str,
        field: str | None,
        expected: str,
        got: Any = _MISSING,
        *,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.where = where if isinstance(where, Location) else Location(str(where))
        self.path = self.where.path
        self.line = self.where.line
        self.field = field
        self.expected = expected
        self.got = None if got is _MISSING else got
        if reason is None:
            reason = "bad record" if field is None else f"bad field {field!r}"
        self.reason = reason
        message = f"{self.where}: "
        if field is not None:
            message += f"field {field!r}: "
        message += f"expected {expected}"
        if detail is not None:
            message += f", got {detail}"
        elif got is not _MISSING:
            message += f", got {_short(got)}"
        super().__init__(message)


@dataclass
class ReadReport:
    """What one or more reads did: rows parsed, records made, skips per reason, notes.

    rows: input rows (lines, array items, parquet rows) that parsed as JSON/Arrow.
    records: records returned.
    skipped: reason -> number of input rows or records left out (policy or bad input).
    notes: event -> count, for things kept or changed on purpose (e.g. "trajectory ended at a
        step with no chosen completion"); informative, nothing here was dropped.
    examples: the first few errors that were skipped, for showing to a user.
    """

    rows: int = 0
    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, error: DataError | None = None, count: int = 1) -> None:
        """Count `count` items left out for `reason` (keeping the first few errors)."""
        self.skipped[reason] += count
        if error is not None and len(self.examples) < _MAX_EXAMPLES:
            self.examples.append(error)

    def note(self, event: str, count: int = 1) -> None:
        self.notes[event] += count

    def summary(self) -> str:
        """One line: rows, records, skips per reason, notes."""
        text = f"{self.rows} rows -> {self.records} records"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
        if self.notes:
            text += "; " + ", ".join(f"{n} {e}" for e, n in sorted(self.notes.items()))
        return text


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")


def report_for(on_error: str, report: ReadReport | None) -> ReadReport:
    """Check the on_error policy; the report to fill (a new one where None). Every reader starts so."""
    check_on_error(on_error)
    return report if report is not None else ReadReport()


def handle(error: DataError, on_error: str, report: ReadReport) -> None:
    """Raise `error` under "raise"; count it under "skip"."""
    if on_error == "raise":
        raise error
    report.skip(error.reason, error)


def collect(
    rows: Iterable[tuple[Location, Any]],
    parse: Callable[[Location, Any], Record | None],
    on_error: str,
    report: ReadReport,
) -> list[Record]:
    """Apply `parse` to every (location, row); bad rows raise or are counted by policy.

    `parse` returns a record, or None for a row it left out on purpose (it must have counted
    that in the report itself). A record whose `id` an earlier record has is a bad row too.
    """
    records: list[Record] = []
    first_seen: dict[Any, Location] = {}
    for where, row in rows:
        try:
            record = parse(where, row)
            _check_unique_id(where, record, first_seen)
        except DataError as error:
            handle(error, on_error, report)
            continue
        if record is not None:
            records.append(record)
    report.records += len(records)
    return records


def _check_unique_id(where: Location, record: Any, first_seen: dict[Any, Location]) -> None:
    record_id = getattr(record, "id", None)
    if record_id is None:
        return
    if record_id in first_seen:
        raise DataError(where, "id", "an id no other record has", detail=f"{record_id!r}, also at {first_seen[record_id]}",
                        reason="duplicate id")
    first_seen[record_id] = where


def collect_objects(
    rows: Iterable[tuple[Location, Any]],
    parse: Callable[[Location, dict, int], Record | None],
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[Record]:
    """`collect` for rows that must be JSON objects: parse(where, row, index) gets each object and
    its 0-based position among `rows` (for ids). A row that is not an object is a bad row."""
    report = report_for(on_error, report)
    positions = iter(range(1 << 62))

    def checked(where: Location, row: Any) -> Record | None:
        index = next(positions)
        return parse(where, require_object(where, row), index)

    return collect(rows, checked, on_error, report)


# ------------------------------------------------------------------ field checks
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}


def require_object(where: Location, row: Any) -> dict:
    if not isinstance(row, dict):
        raise DataError(where, None, "a JSON object", type(row).__name__, reason="not an object")
    return row


def require_text(where: Location, row: dict, key: str) -> str:
    """row[key] as a non-empty (not only blank) string; DataError naming the field otherwise."""
    value = require(where, row, key, str)
    if not value.strip():
        raise DataError(where, key, "a non-empty string", value, reason=f"empty field {key!r}")
    return value


def require_strings(where: Location, row: dict, key: str, non_empty: bool = False, blank_items: bool = True) -> list[str]:
    """row[key] as a list of strings (a non-empty one with non_empty=True; with
    blank_items=False no item may be empty or only blank); a bad item is named by its index
    (e.g. field 'steps[2]')."""
    expected = "a non-empty list of strings" if non_empty else "a list of strings"
    values = require(where, row, key, list, expected=expected)
    if non_empty and not values:
        raise DataError(where, key, expected, values)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise DataError(where, f"{key}[{index}]", "a string", value)
        if not blank_items and not value.strip():
            raise DataError(where, f"{key}[{index}]", "a non-empty string", value, reason=f"empty field {key!r}")
    return values


def require(
    where: Location,
    row: dict,
    key: str,
    kind: type | tuple[type, ...],
    *,
    optional: bool = False,
    expected: str | None = None,
    name: str | None = None,
) -> Any:
    """row[key], checked to be of `kind` (bool never counts as int); missing -> DataError.

    With optional=True a missing key or null value gives None. `name` is the field as errors
    show it (a dotted path for nested objects; default `key`).
    """
    name = name or key
    if key not in row or (optional and row[key] is None):
        if optional:
            return None
        raise DataError(where, name, expected or _describe(kind), reason=f"missing field {name!r}", detail="no such field")
    value = row[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    bad_bool = isinstance(value, bool) and bool not in kinds
    if bad_bool or not isinstance(value, kinds):
        raise DataError(where, name, expected or _describe(kind), value)
    return value


def _describe(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
