"""Join the shards of one job into the output an unsharded run would have written.

Public: `merge_shards`.

Every shard's sidecar must carry the same fingerprint and shard count, the shard indices must be
exactly 0..n-1, and every shard must be complete; `out` may not be one of the shards. Shard i holds the units whose job index is i
modulo n, in index order, and a unit's rows are consecutive and share its unit key (the
sidecar's `unit_field`), so the merge interleaves the shards unit by unit, round robin.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from labeling.runner import summarize
from labeling.store import ResumableJsonl, read_rows, read_sidecar, sidecar_path


def _units_of(rows: list[dict[str, Any]], unit_field: str) -> list[list[dict[str, Any]]]:
    units: list[list[dict[str, Any]]] = []
    for row in rows:
        key = row.get(unit_field)
        if units and units[-1][0].get(unit_field) == key:
            units[-1].append(row)
        else:
            units.append([row])
    return units


def merge_shards(shards: Sequence[str | os.PathLike], out: str | os.PathLike) -> dict[str, Any]:
    """Merge shard outputs into `out` (with its sidecar); returns the merged summary."""
    if not shards:
        raise ValueError("give the shard outputs to merge")
    _refuse_overwriting_an_input(shards, out)
    for shard in shards:
        if not Path(shard).is_file():
            raise FileNotFoundError(f"{shard}: no such shard file; give the --out files of the prm label --shard runs")
    headers = [read_sidecar(path) for path in shards]
    fingerprints = {h.get("fingerprint") for h in headers}
    if len(fingerprints) != 1:
        listing = ", ".join(f"{p}: {h.get('fingerprint')}" for p, h in zip(shards, headers))
        raise ValueError(f"the shards come from different runs (fingerprints {listing}); merge shards of one command")
    counts = {tuple(h.get("shard", (0, 1)))[1] for h in headers}
    if len(counts) != 1:
        raise ValueError(f"the shards were split different ways ({sorted(counts)} shards); merge shards of one command")
    count = counts.pop()
    by_index: dict[int, tuple[Path, dict[str, Any]]] = {}
    for path, header in zip(shards, headers):
        index = header["shard"][0]
        if index in by_index:
            raise ValueError(f"shard {index}/{count} given twice ({by_index[index][0]} and {path})")
        if not header.get("complete"):
            raise ValueError(f"shard {index}/{count} ({path}) is not complete; rerun its command to finish it")
        by_index[index] = (Path(path), header)
    missing = sorted(set(range(count)) - set(by_index))
    if missing:
        raise ValueError(f"missing shard(s) {', '.join(f'{i}/{count}' for i in missing)}; run them, then merge all {count}")
    unit_field = headers[0].get("unit_field", "id")
    shard_units = []
    for index in range(count):
        path, header = by_index[index]
        units = _units_of(read_rows(path), unit_field)
        if len(units) != header.get("units"):
            raise ValueError(f"{path} holds {len(units)} units, its sidecar says {header.get('units')}; rerun that shard")
        shard_units.append(units)
    total = sum(len(u) for u in shard_units)
    rows = []
    for job_index in range(total):
        rows.extend(shard_units[job_index % count][job_index // count])
    header = {k: v for k, v in headers[0].items() if k not in ("complete", "summary", "fingerprint")}
    header.update(shard=[0, 1], units=total)
    with ResumableJsonl(out, headers[0]["fingerprint"], header, resume=False) as store:
        store.append(rows)
        summary = summarize(store.rows)
        summary["units"] = total
        store.finish(summary)
    return summary


def _refuse_overwriting_an_input(shards: Sequence[str | os.PathLike], out: str | os.PathLike) -> None:
    targets = {Path(out).resolve(), sidecar_path(out).resolve()}
    for shard in shards:
        if {Path(shard).resolve(), sidecar_path(shard).resolve()} & targets:
            raise ValueError(f"--out {out} is one of the shards being merged ({shard}); choose another --out")
