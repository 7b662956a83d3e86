"""A resumable JSON-lines output: append + fsync, a sidecar with the run's fingerprint.

Public: `ResumableJsonl`, `fingerprint`, `sidecar_path`, `read_rows`, `read_sidecar`.

Next to `out.jsonl` lives `out.jsonl.meta.json` (written first, atomically): the fingerprint of
the inputs and options, the shard, and, once the run is complete, `complete: true` and a cost
summary. On start an existing output is read back: a torn last line (a kill in the middle of a
write) is cut off, and the ids already written are skipped. A different fingerprint or shard
refuses to resume, naming both and the fix. Rows are written in whole batches, each followed by
flush + fsync, so the file is always a prefix of the uninterrupted run's output (plus at most
one torn line).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping


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


def _write_json_atomic(path: Path, value: Mapping[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class ResumableJsonl:
    """An output file that a later run with the same fingerprint continues (see module doc).

    header: what the sidecar records beside the fingerprint (shard, unit field, counts...);
    `header["shard"]` must match on resume too."""

    def __init__(self, path: str | os.PathLike, fingerprint: str, header: Mapping[str, Any], resume: bool = True):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.header = dict(header)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        side = sidecar_path(self.path)
        if resume and (self.path.exists() or side.exists()):
            if not side.exists():
                raise ValueError(
                    f"{self.path} exists without its sidecar {side.name}; pass --no-resume to overwrite it or choose another --out"
                )
            old = read_sidecar(self.path)
            if old.get("fingerprint") != fingerprint or old.get("shard") != self.header.get("shard"):
                raise ValueError(
                    f"{self.path} was written by a different run (fingerprint {old.get('fingerprint')}, shard "
                    f"{old.get('shard')}; this run: {fingerprint}, shard {self.header.get('shard')}): rerun the "
                    "same command to resume it, pass --no-resume to overwrite it, or choose another --out"
                )
            self.rows = read_rows(self.path, repair=True)
        else:
            self.path.write_bytes(b"")
            self.rows = []
        self.done_ids = {str(row.get("id")) for row in self.rows}
        if len(self.done_ids) != len(self.rows):
            raise ValueError(f"{self.path} holds duplicate ids; it was not written by this tool alone")
        _write_json_atomic(side, {**self.header, "fingerprint": fingerprint, "complete": False})

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows whose id is new, as one write followed by flush + fsync."""
        fresh = [dict(r) for r in rows if str(r["id"]) not in self.done_ids]
        if not fresh:
            return
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh)
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
