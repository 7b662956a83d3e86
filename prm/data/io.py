"""Strict row readers for JSON lines, JSON and parquet files.

Public: `iter_rows(path, on_error=..., report=...)`, `read_rows(path, ...)`, `read_with(parse_rows, path, ...)`,
`object_rows_parser(parse_row, default_prefix, doc)`, `file_reader(parse_rows, doc)`,
`lfs_pointer(path)`, `strict_loads(text)`, `write_jsonl(rows, path)`, `FILE_SUFFIXES`.

Every row comes with its `Location` (file and 1-based line, or row for parquet). Strict means:
NaN / Infinity / numbers that overflow to infinity are rejected, and so are duplicate keys in an
object (plain `json` keeps the last one silently), strings holding a lone surrogate (`"\\ud800"`)
and values nested too deeply to parse (a bad row, not a RecursionError). A UTF-8 byte-order mark
at the start of a file is accepted. A Git LFS pointer file (what a clone without
`git lfs pull` holds) is recognised and named as such instead of failing as "invalid JSON".
`.jsonl` is one value per line (blank lines are allowed); `.json` is an array or one or more
concatenated objects (a pretty-printed record, or JSON lines under a `.json` name); the line of
an array item is the line where the item starts.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from prm.atomic import atomic_writer
from prm.data.errors import DataError, Location, ReadReport, check_on_error, collect_objects, handle, report_for

FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
_LFS_HEADER = b"version https://git-lfs.github.com/spec/v1"


class _StrictError(ValueError):
    def __init__(self, field: str | None, expected: str, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.field, self.expected, self.detail, self.reason = field, expected, detail, reason


class _NonFinite:
    """Stands in for NaN/Infinity while decoding, so the enclosing object can name its key."""

    def __init__(self, text: str) -> None:
        self.text = text


def _non_finite_error(field: str | None, value: _NonFinite) -> _StrictError:
    return _StrictError(field, "a finite number (JSON has no NaN or Infinity)", value.text, "NaN or Infinity")


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Surrogate:
    """A string holding a lone surrogate (`"\\ud800"` decodes to one; it is not text)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _surrogate_error(field: str | None, value: _Surrogate) -> _StrictError:
    return _StrictError(
        field, "text without lone surrogates (an escape \\ud800-\\udfff not part of a pair)",
        ascii(value.text[:40]), "lone surrogate",
    )


def _find_non_finite(value: Any) -> _NonFinite | _Surrogate | None:
    if isinstance(value, _NonFinite):
        return value
    if isinstance(value, str):
        return _Surrogate(value) if _SURROGATE.search(value) else None
    if isinstance(value, list):  # nested objects were checked by their own hook
        for item in value:
            found = _find_non_finite(item)
            if found is not None:
                return found
    return None


def _strict_object(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise _StrictError(key, "each key once per object", "a duplicate key", "duplicate key")
        bad = _find_non_finite(value) or _find_non_finite(key)
        if bad is not None:
            raise _bad_value_error(key, bad)
        obj[key] = value
    return obj


def _bad_value_error(field: str | None, bad: _NonFinite | _Surrogate) -> _StrictError:
    return _surrogate_error(field, bad) if isinstance(bad, _Surrogate) else _non_finite_error(field, bad)


def _too_deep() -> _StrictError:
    return _StrictError(None, "JSON nested less deeply (objects and lists a few levels deep)",
                        "nesting too deep to parse", "nesting too deep")


def _reject_constant(name: str) -> _NonFinite:
    return _NonFinite(name)


def _strict_float(text: str) -> float | _NonFinite:
    value = float(text)
    return _NonFinite(f"{text} (overflows to infinity)") if math.isinf(value) else value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_strict_object, parse_constant=_reject_constant, parse_float=_strict_float
)


_LAX_DECODER = json.JSONDecoder()


def _decode(text: str, index: int) -> tuple[Any, int]:
    try:
        value, end = _DECODER.raw_decode(text, index)
        bad = _find_non_finite(value)
    except RecursionError:
        raise _too_deep() from None
    if bad is not None:
        raise _bad_value_error(None, bad)
    return value, end


def strict_loads(text: str) -> Any:
    """`json.loads` that rejects NaN/Infinity and duplicate keys (raises ValueError)."""
    try:
        value, end = _decode(text, _skip_space(text, 0))
    except _StrictError as error:
        raise ValueError(f"{error.reason}: {error.detail}") from None
    if _skip_space(text, end) != len(text):
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def lfs_pointer(path: str | Path) -> dict[str, str] | None:
    """The fields of a Git LFS pointer file (`oid`, `size`), or None when `path` holds data."""
    with open(path, "rb") as handle_:
        head = handle_.read(1024)
    if not head.startswith(_LFS_HEADER):
        return None
    fields = {}
    for line in head.decode("utf-8", "replace").splitlines()[1:]:
        key, _, value = line.partition(" ")
        if key:
            fields[key] = value
    return fields


def write_jsonl(rows: Iterable[Any], path: str | Path) -> Path:
    """Write rows as JSON lines, atomically (`prm.atomic`: a fresh temp file renamed into place)."""
    path = Path(path)
    with atomic_writer(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(Location(str(path)), None, "an existing file", reason="file not found", detail="no such file")
    pointer = lfs_pointer(path)
    if pointer is not None:
        raise DataError(
            Location(str(path), 1),
            None,
            "data, but this is a Git LFS pointer file "
            f"(oid {pointer.get('oid', '?')}, size {pointer.get('size', '?')} bytes); "
            "fetch the real file with `git lfs pull` or download it",
            reason="Git LFS pointer",
        )


def iter_rows(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> Iterator[tuple[Location, Any]]:
    """Yield (location, value) for every row of a .jsonl, .json or .parquet file.

    A line that is not valid strict JSON raises a `DataError` (on_error="raise") or is counted
    in `report.skipped` (on_error="skip"). A missing file or an LFS pointer always raises.
    """
    check_on_error(on_error)
    report = report if report is not None else ReadReport()
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = _jsonl_rows(path, on_error, report)
    elif suffix == ".json":
        rows = _json_rows(path, on_error, report)
    elif suffix == ".parquet":
        rows = _parquet_rows(path, on_error, report)
    else:
        raise DataError(Location(str(path)), None, f"a file ending in {', '.join(FILE_SUFFIXES)}", path.suffix, reason="unknown file type")
    for where, value in rows:
        report.rows += 1
        yield where, value


def read_rows(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> list[tuple[Location, Any]]:
    """All of `iter_rows` as a list."""
    return list(iter_rows(path, on_error, report))


def read_with(
    parse_rows: Callable[..., list[Any]], path: str | Path, on_error: str = "raise", report: ReadReport | None = None,
    **options: Any,
) -> list[Any]:
    """`parse_rows(iter_rows(path), on_error=..., report=..., **options)`: a format's file reader
    from its row parser (every reader in prm.data is one)."""
    report = report_for(on_error, report)
    return parse_rows(iter_rows(path, on_error, report), on_error=on_error, report=report, **options)


def object_rows_parser(parse_row: Callable[[Location, dict, str], Any], default_prefix: str, doc: str) -> Callable[..., list[Any]]:
    """A format's `parse_rows(rows, id_prefix=default_prefix, on_error="raise", report=None)`
    from its parser of one row: `parse_row(where, row, default_id)` gets each row (a JSON object,
    else a bad row) and `<id_prefix>-<0-based row index>`, the id of a record whose row names none."""

    def parse_rows(rows: Iterable[tuple[Location, Any]], id_prefix: str = default_prefix, on_error: str = "raise",
                   report: ReadReport | None = None) -> list[Any]:
        def parse(where: Location, row: dict, index: int) -> Any:
            return parse_row(where, row, f"{id_prefix}-{index}")

        return collect_objects(rows, parse, on_error, report)

    parse_rows.__doc__ = doc
    return parse_rows


def file_reader(parse_rows: Callable[..., list[Any]], doc: str) -> Callable[..., list[Any]]:
    """A format's `read(path, on_error="raise", report=None)`: `parse_rows` over the file's rows
    (`read_with`), with the file's stem as the id prefix."""

    def read(path: str | Path, on_error: str = "raise", report: ReadReport | None = None) -> list[Any]:
        return read_with(parse_rows, path, on_error, report, id_prefix=Path(path).stem)

    read.__doc__ = doc
    return read


def _decode_error(where: Location, error: Exception) -> DataError:
    if isinstance(error, _StrictError):
        return DataError(where, error.field, error.expected, reason=error.reason, detail=error.detail)
    if isinstance(error, json.JSONDecodeError):
        return DataError(
            where, None, "one complete JSON value (a torn or truncated line?)",
            reason="invalid JSON", detail=f"{error.msg} (column {error.colno})",
        )
    return DataError(where, None, "valid UTF-8 JSON", reason="invalid JSON", detail=str(error))


def _jsonl_rows(path: Path, on_error: str, report: ReadReport) -> Iterator[tuple[Location, Any]]:
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            where = Location(str(path), number)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a BOM may start the file
                if not text.strip():
                    continue
                value = _loads_line(text)
            except (ValueError, UnicodeDecodeError) as error:
                handle(_decode_error(where, error), on_error, report)
                continue
            yield where, value


def _loads_line(text: str) -> Any:
    value, end = _decode(text, _skip_space(text, 0))
    if _skip_space(text, end) != len(text):
        raise json.JSONDecodeError("extra data after the JSON value", text, end)
    return value


_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, index: int) -> int:
    return _SPACE.match(text, index).end()


def _json_rows(path: Path, on_error: str, report: ReadReport) -> Iterator[tuple[Location, Any]]:
    """An array's items, or a sequence of concatenated values. A torn value always raises
    (the rest of the document cannot be located after it); an item that is valid JSON but
    breaks a strict rule (NaN, duplicate key) is skipped under on_error="skip"."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM may start the file
    except UnicodeDecodeError as error:
        raise _decode_error(Location(str(path), None), error) from None
    lines = _LineCounter(path, text)
    index = _skip_space(text, 0)
    array = text.startswith("[", index)
    if array:
        index = _skip_space(text, index + 1)
    while index < len(text):
        if array and text.startswith("]", index):
            if _skip_space(text, index + 1) != len(text):
                raise _decode_error(lines.at(index + 1), json.JSONDecodeError("extra data after the array", text, index + 1))
            return
        where = lines.at(index)
        try:
            value, end = _decode(text, index)
        except _StrictError as error:
            if error.reason == "nesting too deep":  # its end cannot be found either
                raise _decode_error(where, error) from None
            handle(_decode_error(where, error), on_error, report)
            _, end = _LAX_DECODER.raw_decode(text, index)
        except ValueError as error:
            raise _decode_error(where, error) from None
        else:
            yield where, value
        index = _skip_space(text, end)
        if array:
            if text.startswith(",", index):
                index = _skip_space(text, index + 1)
            elif not text.startswith("]", index):
                raise _decode_error(lines.at(index), json.JSONDecodeError("expected ',' or ']' in the array", text, index))
    if array:
        raise _decode_error(lines.at(index), json.JSONDecodeError("the array is not closed (truncated file?)", text, index))


class _LineCounter:
    """1-based line of a character index, for indices that mostly increase (linear overall)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text, self.index, self.line = str(path), text, 0, 1

    def at(self, index: int) -> Location:
        if index < self.index:
            self.index, self.line = 0, 1
        self.line += self.text.count("\n", self.index, index)
        self.index = index
        return Location(self.path, self.line)


def _parquet_rows(path: Path, on_error: str, report: ReadReport) -> Iterator[tuple[Location, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise DataError(Location(str(path)), None, "a readable parquet file", reason="invalid parquet", detail=str(error)) from None
    for number, row in enumerate(table.to_pylist(), start=1):
        where = Location(str(path), number, "row")
        bad = _non_finite(row)
        if bad is not None:
            handle(DataError(where, bad, "finite numbers", reason="NaN or Infinity", detail="NaN or Infinity"), on_error, report)
            continue
        yield where, row


def _non_finite(value: Any, name: str | None = None) -> str | None:
    """The name of the first field holding NaN/Infinity, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return name or "value"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item, key if name is None else f"{name}.{key}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for item in value:
            found = _non_finite(item, name)
            if found:
                return found
    return None
