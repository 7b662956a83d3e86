"""Accuracy-vs-N curves from one best-of-n run, by bootstrap subsampling.

Public: `CurveConfig`, `CurvePoint`, `default_ks`, `curve_methods`, `bootstrap_curves`,
`write_curves_csv`, `write_curves_json`, `format_table`.

For each k in 1, 2, 4, ..., N, every draw picks k of a problem's N candidates without
replacement (seeded), and each method selects from those k: `pass` (the oracle), `majority`,
and per score key `rm:<key>` (highest score) and `weighted:<key>` (weighted vote); see
`search.best_of_n` for the selection rules. All methods see the same subsets in a draw, so their
differences are paired. A draw's accuracy is the mean over problems; a point reports the mean,
standard deviation and 5th/95th percentiles over draws, and the mean generated tokens per
problem that k samples cost. Answer groups come from the full N (grouping is done once), so a
subset's groups are the full grouping restricted to it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from search.candidates import ProblemCandidates, candidate_score, score_keys
from search.voting import vote_batch


@dataclass(frozen=True)
class CurveConfig:
    """draws: subsets per k; ks: None for powers of two up to N (and N itself)."""

    draws: int = 200
    seed: int = 0
    ks: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.draws, int) or self.draws < 1:
            raise ValueError(f"CurveConfig.draws must be an int >= 1, got {self.draws!r}")
        if self.ks is not None:
            object.__setattr__(self, "ks", tuple(self.ks))
            if not self.ks or any(not isinstance(k, int) or k < 1 for k in self.ks):
                raise ValueError(f"CurveConfig.ks must hold ints >= 1, got {self.ks!r}")


@dataclass(frozen=True)
class CurvePoint:
    """One method at one k. Accuracies are fractions in [0, 1]; tokens are per problem."""

    method: str
    k: int
    mean: float
    std: float
    p5: float
    p95: float
    tokens: float
    draws: int


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself."""
    ks = [1 << i for i in range(n.bit_length()) if (1 << i) <= n]
    return ks if ks[-1] == n else ks + [n]


def curve_methods(results: Sequence[ProblemCandidates]) -> list[str]:
    """The methods the results support: pass, majority (when grouped), rm:/weighted: per key."""
    methods = ["pass"]
    grouped = all(len(r.group_ids) == len(r.candidates) for r in results)
    if grouped:
        methods.append("majority")
    for key in score_keys(results):
        methods.append(f"rm:{key}")
        if grouped:
            methods.append(f"weighted:{key}")
    return methods


def bootstrap_curves(
    results: Sequence[ProblemCandidates], config: CurveConfig = CurveConfig()
) -> list[CurvePoint]:
    """Bootstrap curve points for every method in `curve_methods(results)` and every k."""
    if not results:
        raise ValueError("no results to draw curves from")
    n = min(len(r.candidates) for r in results)
    ks = list(config.ks) if config.ks is not None else default_ks(max(n, 1))
    if n < 1 or max(ks) > n:
        raise ValueError(
            f"k up to {max(ks)} needs that many candidates per problem, but one problem has "
            f"{n}; lower --n / CurveConfig.ks or drop problems without samples"
        )
    methods = curve_methods(results)
    keys = [m.split(":", 1)[1] for m in methods if m.startswith("rm:")]
    rng = np.random.default_rng(config.seed)
    per_problem = [_arrays(result, keys) for result in results]
    points = []
    for k in ks:
        hits = {m: np.zeros(config.draws) for m in methods}
        tokens = np.zeros(config.draws)
        for arrays in per_problem:
            size = len(arrays["correct"])
            # Sorted so that ties everywhere go to the lower candidate index.
            subsets = np.sort(np.argsort(rng.random((config.draws, size)), axis=1)[:, :k], axis=1)
            for method, hit in _hits(arrays, subsets, methods).items():
                hits[method] += hit
            tokens += arrays["tokens"][subsets].sum(axis=1)
        for method in methods:
            accuracy = hits[method] / len(results)
            points.append(
                CurvePoint(
                    method=method,
                    k=k,
                    mean=float(accuracy.mean()),
                    std=float(accuracy.std()),
                    p5=float(np.percentile(accuracy, 5)),
                    p95=float(np.percentile(accuracy, 95)),
                    tokens=float(tokens.mean() / len(results)),
                    draws=config.draws,
                )
            )
    return points


def _arrays(result: ProblemCandidates, keys: Sequence[str]) -> dict[str, np.ndarray]:
    arrays = {
        "correct": np.array([c.is_correct is True for c in result.candidates]),
        "tokens": np.array([c.num_tokens for c in result.candidates], dtype=float),
        "groups": np.array(result.group_ids or [-1] * len(result.candidates), dtype=int),
    }
    for key in keys:
        arrays[key] = np.array([candidate_score(c, key) for c in result.candidates], dtype=float)
    return arrays


def _hits(arrays: Mapping[str, np.ndarray], subsets: np.ndarray, methods: Sequence[str]):
    correct = arrays["correct"][subsets]  # (draws, k)
    rows = np.arange(len(subsets))
    hits = {}
    for method in methods:
        if method == "pass":
            hits[method] = correct.any(axis=1)
            continue
        kind, _, key = method.partition(":")
        if kind == "rm":
            hits[method] = correct[rows, arrays[key][subsets].argmax(axis=1)]
            continue
        weights = None if kind == "majority" else arrays[key][subsets]
        column = vote_batch(arrays["groups"][subsets], weights)
        hits[method] = np.where(column >= 0, correct[rows, np.maximum(column, 0)], False)
    return hits


def write_curves_csv(points: Iterable[CurvePoint], path: str | Path) -> None:
    """One row per (method, k) with the CurvePoint fields as columns."""
    fields = list(CurvePoint.__dataclass_fields__)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for point in points:
            writer.writerow(asdict(point))


def write_curves_json(
    points: Iterable[CurvePoint], path: str | Path, extra: Mapping[str, Any] | None = None
) -> None:
    """{"points": [...], **extra} as JSON (extra: run settings, compute, beam results)."""
    payload = {"points": [asdict(p) for p in points], **(extra or {})}
    Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def format_table(points: Sequence[CurvePoint]) -> str:
    """A text table: one row per method, one column per k, cells "mean% ±std"."""
    ks = sorted({p.k for p in points})
    methods = list(dict.fromkeys(p.method for p in points))
    cell = {(p.method, p.k): f"{100 * p.mean:5.1f} ±{100 * p.std:4.1f}" for p in points}
    width = max([len(m) for m in methods] + [6])
    lines = [f"{'method':<{width}} " + " ".join(f"{'k=' + str(k):>12}" for k in ks)]
    for method in methods:
        lines.append(
            f"{method:<{width}} " + " ".join(f"{cell.get((method, k), '-'):>12}" for k in ks)
        )
    tokens = {p.k: p.tokens for p in points}
    lines.append(f"{'tokens':<{width}} " + " ".join(f"{tokens[k]:>12.0f}" for k in ks))
    return "\n".join(lines)
