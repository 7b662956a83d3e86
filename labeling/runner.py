"""The resumable, sharded work loop: units in, step-wise rows out.

Public: `Unit`, `shard_units`, `run_units`, `summarize`.

A unit is one piece of work (a problem to sample and label, or one solution to label) with the
ids of the rows it produces. `shard_units(units, i, n)` keeps units whose index is i modulo n
(deterministic, balanced); `labeling.merge` interleaves the shards back in index order.
`run_units` skips units whose rows are all written, processes the rest in groups (one engine
batch per group), writes each group's rows with one fsync'd append, and reports progress
through a callback (the CLI draws the bar). Rows carry their own cost fields
(`rollouts_drawn`, `generated_tokens`, `seconds`), which `summarize` adds up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from labeling.store import ResumableJsonl

Progress = Callable[[int, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Unit:
    """index: position in the whole job (before sharding); key: the unit's own id (problem id
    or solution id); ids: the row ids it produces; item: what the processor needs."""

    index: int
    key: str
    ids: tuple[str, ...]
    item: Any


def shard_units(units: Sequence[Unit], index: int, count: int) -> list[Unit]:
    """The units of shard `index` of `count`: those whose job index is index modulo count."""
    return [unit for unit in units if unit.index % count == index]


def run_units(
    units: Sequence[Unit],
    process: Callable[[list[Unit]], list[list[dict[str, Any]]]],
    store: ResumableJsonl,
    group_size: int = 8,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Process every unit not yet in `store`, then mark it complete; returns the summary.

    process(group) returns, per unit, its rows; each row's "id" must be one of the unit's ids."""
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    keys = [unit.key for unit in units]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"two inputs share the id {duplicate!r}; give every problem/solution a unique id")
    todo = [unit for unit in units if not set(unit.ids) <= store.done_ids]
    if on_progress is not None:
        on_progress(len(units) - len(todo), {})
    started = time.perf_counter()
    for start in range(0, len(todo), group_size):
        group = todo[start : start + group_size]
        produced = process(group)
        rows = []
        for unit, unit_rows in zip(group, produced):
            ids = tuple(str(row["id"]) for row in unit_rows)
            if ids != unit.ids:
                raise RuntimeError(f"unit {unit.key!r} produced rows {ids}, expected {unit.ids}")
            rows.extend(unit_rows)
        store.append(rows)
        if on_progress is not None:
            on_progress(len(group), _cost(rows))
    summary = summarize(store.rows)
    summary["units"] = len(units)
    summary["wall_seconds_this_run"] = round(time.perf_counter() - started, 3)
    store.finish(summary)
    return summary


def _cost(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "rollouts": sum(int(r.get("rollouts_drawn", 0)) for r in rows),
        "generated_tokens": sum(int(r.get("generated_tokens", 0)) for r in rows),
        "seconds": sum(float(r.get("seconds", 0.0)) for r in rows),
    }


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over step-wise rows: records, steps (labelled and unlabelled), rollouts, tokens,
    seconds, and final-answer accuracy twice, named for what it divides by:
    `accuracy_all_solutions` (correct / every record; an ungradable one counts as not correct)
    and `accuracy_graded_solutions` (correct / records whose answer could be graded)."""
    cost = _cost(rows)
    graded = [r["correct"] for r in rows if r.get("correct") is not None]
    labels = [v for r in rows for v in (r.get("labels") or ())]
    steps = sum(len(r.get("completions", ())) for r in rows)
    return {
        "records": len(rows),
        "steps": steps,
        "steps_labelled": sum(v is not None for v in labels),
        "steps_unlabelled": steps - sum(v is not None for v in labels),
        "rollouts": cost["rollouts"],
        "generated_tokens": cost["generated_tokens"],
        "seconds": round(cost["seconds"], 3),
        "graded_solutions": len(graded),
        "ungradable_solutions": len(rows) - len(graded),
        "accuracy_all_solutions": (sum(graded) / len(rows)) if rows else None,
        "accuracy_graded_solutions": (sum(graded) / len(graded)) if graded else None,
        "tokens_per_record": (cost["generated_tokens"] / len(rows)) if rows else 0.0,
    }
