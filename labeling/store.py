"""A resumable JSON-lines output: append + fsync, a sidecar with the run's fingerprint.

Public: `ResumableJsonl`, `fingerprint`, `row_digest`, `sidecar_path`, `read_rows`, `read_sidecar`.

Next to `out.jsonl` lives `out.jsonl.meta.json` (written first, atomically): the fingerprint of
the inputs and options, the shard, and, once the run is complete, `complete: true` and a cost
summary. On start an existing output is read back: a torn last line (a kill in the middle of a
write) is cut off, and the ids already written are skipped. A different fingerprint or shard
refuses to resume, naming each option that differs and the fix. Every kept row is checked: an
object with a string id, not a duplicate, among this run's ids, matching its `digest` (each row
is written with the sha256 of its other fields) and well-formed by the caller's check; the first
bad row and every row after it are dropped (and counted in `dropped`), so the file stays a
prefix of the uninterrupted run. One writer at a time: the store holds an exclusive lock
(`prm.atomic.OutputLock`) while open. Rows are written in whole batches, each followed by
flush + fsync, so the file is always a prefix of the uninterrupted run's output (plus at most
one torn line).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping

from prm.atomic import OutputLock, atomic_write
from prm.data.io import strict_loads


def fingerprint(inputs: Any, options: Mapping[str, Any]) -> str:
    """sha256 (hex, 16 digits) of the canonical JSON of the inputs and options."""
    text = json.dumps({"inputs": inputs, "options": dict(options)}, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".meta.json")


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of output `path`; ValueError naming the file when absent or unreadable."""
    side = sidecar_path(path)
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{side} is missing: {path} was not written by this tool, or was copied without it") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{side} is not valid JSON ({error}); rerun that shard with --no-resume") from None


def read_rows(path: str | os.PathLike, repair: bool = False) -> list[dict[str, Any]]:
    """All complete rows of a JSON-lines file. A torn last line (no final newline) is cut off
    the file when `repair`, else ignored; any other bad line raises, naming file and line."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data) and repair:
        with open(path, "r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
    rows = []
    for number, line in enumerate(data[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON row ({error}); the file is damaged") from None
    return rows


def row_digest(row: Mapping[str, Any]) -> str:
    """sha256 (hex, 16 digits) of a row's canonical JSON, its own "digest" field left out."""
    body = {k: v for k, v in row.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _write_json_atomic(path: Path, value: Mapping[str, Any]) -> None:
    atomic_write(path, json.dumps(value, indent=1, sort_keys=True))


_AFTER_DROP = "after a dropped row"


def _row_problem(
    row: Any, seen: set[str], expected_ids: Collection[str] | None, check_row: Callable[[dict], str | None] | None
) -> str | None:
    """Why an existing row cannot be kept on resume, or None."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        return "not a row with a string id"
    if row["id"] in seen:
        return "duplicate id"
    if expected_ids is not None and row["id"] not in expected_ids:
        return "id not among this shard's inputs"
    if "digest" in row and row["digest"] != row_digest(row):
        return "digest mismatch (row changed after it was written)"
    return check_row(row) if check_row is not None else None


def _differences(old: Mapping[str, Any], header: Mapping[str, Any]) -> list[str]:
    """Each option (and the shard) in which `header` differs from the sidecar `old`, as text."""
    def shown(value: Any) -> str:
        return "(default)" if value is _ABSENT else json.dumps(value)

    # A sidecar without options (not written by prm label) can only differ in its inputs.
    old_options = old.get("options", {})
    new_options = json.loads(json.dumps(header.get("options") or {}, default=str)) if "options" in old else {}
    differences = [
        f"--{key.replace('_', '-')} {shown(old_options.get(key, _ABSENT))} (this run: {shown(new_options.get(key, _ABSENT))})"
        for key in sorted(set(old_options) | set(new_options))
        if old_options.get(key, _ABSENT) != new_options.get(key, _ABSENT)
    ]
    old_shard, new_shard = old.get("shard"), list(header.get("shard") or ())
    if old_shard != new_shard:
        differences.append(f"--shard {'/'.join(map(str, old_shard or ()))} (this run: {'/'.join(map(str, new_shard))})")
    return differences


_ABSENT = object()


class ResumableJsonl:
    """An output file that a later run with the same fingerprint continues (see module doc).

    header: what the sidecar records beside the fingerprint (shard, unit field, options...);
    `header["shard"]` must match on resume too. expected_ids: the row ids this run may write
    (None: any); check_row(row): why a row is malformed, or None. While the object is open it
    holds the output's writer lock (`prm.atomic.OutputLock`); `close()` (or leaving a `with`
    block) releases it. `dropped` counts, by reason, the existing rows a resume left out."""

    def __init__(
        self,
        path: str | os.PathLike,
        fingerprint: str,
        header: Mapping[str, Any],
        resume: bool = True,
        expected_ids: Collection[str] | None = None,
        check_row: Callable[[dict], str | None] | None = None,
    ):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.header = dict(header)
        self.dropped: Counter = Counter()
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a folder, not an output file; choose another --out")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = OutputLock(self.path).acquire()
        try:
            self.rows = self._existing_rows(resume, expected_ids, check_row)
            _write_json_atomic(sidecar_path(self.path), {**self.header, "fingerprint": fingerprint, "complete": False})
        except BaseException:
            self.close()
            raise
        self.done_ids = {str(row.get("id")) for row in self.rows}

    def _existing_rows(self, resume: bool, expected_ids, check_row) -> list[dict[str, Any]]:
        side = sidecar_path(self.path)
        if not (resume and (self.path.exists() or side.exists())):
            atomic_write(self.path, b"")
            return []
        if not side.exists():
            raise ValueError(
                f"{self.path} exists without its sidecar {side.name}; pass --no-resume to overwrite it or choose another --out"
            )
        old = read_sidecar(self.path)
        if old.get("fingerprint") != self.fingerprint or old.get("shard") != self.header.get("shard"):
            what = "; ".join(_differences(old, self.header)) or "the inputs (the problems or solutions are not the same)"
            raise ValueError(
                f"{self.path} was written by a different run, with {what}: rerun the same command to resume it, "
                "pass --no-resume to overwrite it, or choose another --out"
            )
        kept: list[dict[str, Any]] = []
        seen: set[str] = set()
        lines = _read_lines(self.path)
        for number, row in lines:
            reason = "not a JSON row" if row is _ABSENT else _row_problem(row, seen, expected_ids, check_row)
            if reason is not None:
                # Everything after a bad row goes too, so the file stays a prefix of the
                # uninterrupted run's output (a unit's rows stay together and in order).
                self.dropped[f"{reason} (first at line {number})"] += 1
                self.dropped[_AFTER_DROP] += len(lines) - len(kept) - 1
                break
            seen.add(row["id"])
            kept.append(row)
        if not self.dropped:
            _cut_torn_line(self.path)
        else:
            if not self.dropped[_AFTER_DROP]:
                del self.dropped[_AFTER_DROP]
            atomic_write(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
        return kept

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows whose id is new (each with its digest), as one write followed by flush + fsync."""
        fresh = [dict(r) for r in rows if str(r["id"]) not in self.done_ids]
        if not fresh:
            return
        for row in fresh:
            row["digest"] = row_digest(row)
        # allow_nan=False: a NaN would be written, then dropped as a bad row by every resume.
        text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in fresh)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.extend(fresh)
        self.done_ids.update(str(r["id"]) for r in fresh)

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Mark the output complete and record the summary."""
        _write_json_atomic(
            sidecar_path(self.path),
            {**self.header, "fingerprint": self.fingerprint, "complete": True, "summary": dict(summary)},
        )

    def close(self) -> None:
        """Release the writer lock (the rows are on disk already)."""
        self._lock.release()

    def __enter__(self) -> "ResumableJsonl":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _cut_torn_line(path: Path) -> None:
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())


def _read_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, row) for every complete non-blank line; a line that is not JSON gives _ABSENT."""
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    lines = []
    for number, line in enumerate(complete.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            lines.append((number, strict_loads(line.decode("utf-8"))))
        except (ValueError, RecursionError):
            lines.append((number, _ABSENT))
    return lines
