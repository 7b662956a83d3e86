"""Accuracy-vs-k curves from one best-of-n run, with exact estimators and paired intervals.

Public: `CurveConfig`, `CurvePoint`, `PairedDifference`, `CurveReport`, `default_ks`,
`curve_methods`, `evaluate_curves`, `bootstrap_curves`, `per_problem_hits`, `pick_probabilities`, `paired_interval`,
`curves_frame`, `write_curves_csv`, `read_curves_frame`, `write_curves_json`, `format_table`, `format_differences`.
`CurveReport.to_frame()` / `differences_frame()` / `per_problem_frame()` give the report as pandas
DataFrames; `write_curves_csv` writes the points through pandas (`prm.tables`: a `.parquet` path
writes Parquet).

For each k in 1, 2, 4, ..., N, each selection rule's expected accuracy on a problem is computed
over the k-subsets of its N candidates:

- `pass` (the oracle): the unbiased pass@k estimator of Chen et al. (2021),
  1 - C(N - c, k) / C(N, k) for c correct candidates: exact;
- `rm:<key>` (highest score): exact. Candidates are ranked by (has an answer, score, earlier
  index), so a candidate without an answer is never picked while one with an answer is in the
  subset (as openai/prm800k's evaluation drops them); the candidate ranked r-th (0-based) is
  the pick of C(N - 1 - r, k - 1) of the C(N, k) subsets;
- `majority` and `weighted:<key>` (votes): exact at k = N (one subset) and at k = 1 (the mean
  candidate); in between, the mean over `draws` seeded subsets per problem, the same subsets
  for every voting rule (the estimator says `draws=D`).

Answer groups come from the full N (grouping is done once), so a subset's groups are the full
grouping restricted to it. Uncertainty is over problems: a problem-level bootstrap (resample
problems with replacement, each keeping its own candidates; `bootstrap` resamples, one set of
resamples shared by every rule) gives each point's 95% interval and, paired, each rule's
difference against majority vote (`PairedDifference`). The per-problem expected hits are kept
(`CurveReport.per_problem`) so anyone can recompute every figure.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from math import comb
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from prm.atomic import atomic_write
from prm.tables import read_table, write_table
from search.candidates import ProblemCandidates, candidate_score, score_keys
from search.voting import vote_batch

BASELINE = "majority"


@dataclass(frozen=True)
class CurveConfig:
    """draws: subsets per problem for the vote estimators at 1 < k < N; bootstrap: problem
    resamples for the intervals; ks: None for powers of two up to N (and N itself)."""

    draws: int = 200
    seed: int = 0
    ks: tuple[int, ...] | None = None
    bootstrap: int = 10_000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        for name in ("draws", "bootstrap"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CurveConfig.{name} must be an int >= 1, got {value!r}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"CurveConfig.confidence must be in (0, 1), got {self.confidence!r}")
        if self.ks is not None:
            object.__setattr__(self, "ks", tuple(self.ks))
            if not self.ks or any(not isinstance(k, int) or k < 1 for k in self.ks):
                raise ValueError(f"CurveConfig.ks must hold ints >= 1, got {self.ks!r}")


@dataclass(frozen=True)
class CurvePoint:
    """One rule at one k: accuracy (fraction in [0, 1]) over problems, its bootstrap interval,
    generated tokens per problem, and how the per-problem value was estimated."""

    method: str
    k: int
    mean: float
    ci_low: float
    ci_high: float
    tokens: float
    estimator: str


@dataclass(frozen=True)
class PairedDifference:
    """rule minus baseline at one k, in accuracy fractions, with the paired bootstrap interval
    over problems (the same resampled problems for both)."""

    method: str
    baseline: str
    k: int
    mean: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class CurveReport:
    points: list[CurvePoint]
    differences: list[PairedDifference]
    per_problem: dict[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self):
        """The points: one row per (method, k), the CurvePoint fields as columns."""
        return curves_frame(self.points)

    def differences_frame(self):
        """One row per (method, k): the PairedDifference fields and `significant`."""
        import pandas as pd

        rows = [{**asdict(d), "significant": d.significant} for d in self.differences]
        return pd.DataFrame(rows, columns=[*PairedDifference.__dataclass_fields__, "significant"])

    def per_problem_frame(self):
        """Each problem's expected hit per rule and k: index problem_id, one column per
        "<method>@<k>" (what per_problem.json holds)."""
        import pandas as pd

        frame = pd.DataFrame(self.per_problem.get("hits", {}), index=self.per_problem.get("problem_ids", []))
        frame.index.name = "problem_id"
        return frame


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


def per_problem_hits(
    results: Sequence[ProblemCandidates], config: CurveConfig = CurveConfig()
) -> tuple[dict[tuple[str, int], np.ndarray], dict[tuple[str, int], str], np.ndarray, list[int]]:
    """(hits, estimators, tokens per candidate per problem, ks): hits[(method, k)] is each
    problem's expected accuracy of that rule over k-subsets (see the module docstring)."""
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
    hits = {(m, k): np.zeros(len(results)) for m in methods for k in ks}
    estimators: dict[tuple[str, int], str] = {}
    mean_tokens = np.zeros(len(results))
    for index, result in enumerate(results):
        arrays = _arrays(result, keys)
        size = len(arrays["correct"])
        mean_tokens[index] = arrays["tokens"].mean()
        for k in ks:
            hits[("pass", k)][index] = pass_at_k(size, int(arrays["correct"].sum()), k)
            estimators[("pass", k)] = "exact"
            for key in keys:
                hits[(f"rm:{key}", k)][index] = rm_at_k(arrays["correct"], arrays[key], arrays["answered"], k)
                estimators[(f"rm:{key}", k)] = "exact"
            votes = [m for m in methods if m == "majority" or m.startswith("weighted:")]
            if not votes:
                continue
            if k == size:
                subsets, label = np.arange(size)[None, :], "exact"
            elif k == 1:
                subsets, label = np.arange(size)[:, None], "exact"
            else:
                # Sorted so that ties everywhere go to the lower candidate index.
                subsets = np.sort(np.argsort(rng.random((config.draws, size)), axis=1)[:, :k], axis=1)
                label = f"draws={config.draws}"
            correct = arrays["correct"][subsets]
            rows = np.arange(len(subsets))
            for method in votes:
                kind, _, key = method.partition(":")
                weights = None if kind == "majority" else arrays[key][subsets]
                column = vote_batch(arrays["groups"][subsets], weights)
                picked = np.where(column >= 0, correct[rows, np.maximum(column, 0)], False)
                hits[(method, k)][index] = picked.mean()
                if estimators.get((method, k), "exact") == "exact":
                    estimators[(method, k)] = label
    return hits, estimators, mean_tokens, ks


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021): the chance that a k-subset of n samples with c correct holds one."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def rm_at_k(correct: np.ndarray, scores: np.ndarray, answered: np.ndarray, k: int) -> float:
    """Expected correctness of the top-ranked candidate of a uniform k-subset (exact)."""
    n = len(correct)
    # Rank: answered first, then by score, then by earlier index (a stable sort of -score).
    order = np.lexsort((np.arange(n), -scores, ~answered))
    rank = np.empty(n)
    rank[order] = np.arange(n)
    return float((pick_probabilities(-rank, k) * np.asarray(correct)).sum())


def pick_probabilities(scores: Sequence[float], k: int) -> np.ndarray:
    """Per candidate, the chance that it is the pick of a uniform k-subset of the n candidates
    when the highest score wins and a tie is split evenly among the tied members in the subset
    (exact). A score level with a candidates above it and m candidates on it holds the subset's
    best with probability (C(n - a, k) - C(n - a - m, k)) / C(n, k), shared evenly by its m
    members (by symmetry each is equally likely to be drawn, and then to win the split)."""
    values = np.asarray(scores, dtype=float)
    n = len(values)
    if values.ndim != 1 or not 1 <= k <= n:
        raise ValueError(f"a pick from k-subsets needs 1 <= k <= n, got k={k} for {n} candidates")
    if np.isnan(values).any():
        raise ValueError("pick probabilities of NaN scores: score every candidate first")
    # levels: 0 for the highest distinct score, 1 for the next, ...
    _, level_of, level_sizes = np.unique(-values, return_inverse=True, return_counts=True)
    total = comb(n, k)
    probabilities = np.zeros(n)
    above = 0
    for level, size in enumerate(level_sizes):
        best_here = (comb(n - above, k) - comb(n - above - size, k)) / total
        probabilities[level_of.reshape(-1) == level] = best_here / size
        above += size
    return probabilities


def evaluate_curves(
    results: Sequence[ProblemCandidates], config: CurveConfig = CurveConfig(), baseline: str = BASELINE
) -> CurveReport:
    """Points for every rule and k, each rule's paired difference against `baseline` (when the
    results support it), and the per-problem expected hits."""
    hits, estimators, mean_tokens, ks = per_problem_hits(results, config)
    methods = list(dict.fromkeys(m for m, _ in hits))
    rng = np.random.default_rng(config.seed + 1)
    resamples = rng.integers(0, len(results), size=(config.bootstrap, len(results)))
    alpha = (1.0 - config.confidence) / 2
    points, differences = [], []
    for k in ks:
        for method in methods:
            values = hits[(method, k)]
            low, high = _interval(values[resamples].mean(axis=1), alpha)
            points.append(CurvePoint(method, k, float(values.mean()), low, high,
                                     float(k * mean_tokens.mean()), estimators[(method, k)]))
        if (baseline, k) not in hits:
            continue
        for method in methods:
            if method == baseline:
                continue
            delta = hits[(method, k)] - hits[(baseline, k)]
            low, high = _interval(delta[resamples].mean(axis=1), alpha)
            differences.append(PairedDifference(method, baseline, k, float(delta.mean()), low, high))
    per_problem = {
        "problem_ids": [r.problem_id for r in results],
        "hits": {f"{m}@{k}": [round(float(v), 6) for v in hits[(m, k)]] for m, k in hits},
    }
    settings = {"draws": config.draws, "bootstrap": config.bootstrap, "confidence": config.confidence,
                "seed": config.seed, "problems": len(results), "baseline": baseline}
    return CurveReport(points, differences, per_problem, settings)


def bootstrap_curves(
    results: Sequence[ProblemCandidates], config: CurveConfig = CurveConfig()
) -> list[CurvePoint]:
    """The points of `evaluate_curves` (every rule in `curve_methods(results)`, every k)."""
    return evaluate_curves(results, config).points


def paired_interval(delta, bootstrap: int = 10_000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """The bootstrap interval of mean(delta) over problems (delta: one paired difference per
    problem; problems resampled with replacement)."""
    delta = np.asarray(delta, dtype=float)
    resamples = np.random.default_rng(seed).integers(0, len(delta), size=(bootstrap, len(delta)))
    return _interval(delta[resamples].mean(axis=1), (1.0 - confidence) / 2)


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _arrays(result: ProblemCandidates, keys: Sequence[str]) -> dict[str, np.ndarray]:
    arrays = {
        "correct": np.array([c.is_correct is True for c in result.candidates]),
        "answered": np.array([c.answer is not None for c in result.candidates]),
        "tokens": np.array([c.num_tokens for c in result.candidates], dtype=float),
        "groups": np.array(result.group_ids or [-1] * len(result.candidates), dtype=int),
    }
    for key in keys:
        arrays[key] = np.array([candidate_score(c, key) for c in result.candidates], dtype=float)
        if np.isnan(arrays[key]).any():
            raise ValueError(f"problem {result.problem_id!r} has NaN {key} scores; rescore it")
    return arrays


def curves_frame(points: Iterable[CurvePoint]):
    """A DataFrame with one row per (method, k) and the CurvePoint fields as columns."""
    import pandas as pd

    return pd.DataFrame([asdict(p) for p in points], columns=list(CurvePoint.__dataclass_fields__))


def write_curves_csv(points: Iterable[CurvePoint], path: str | Path) -> None:
    """One row per (method, k) with the CurvePoint fields as columns (`curves_frame`), written
    atomically by pandas; a `.parquet` path writes Parquet."""
    write_table(curves_frame(points), path)


def read_curves_frame(path: str | Path):
    """The DataFrame of a curves.csv (or .parquet) that `write_curves_csv` wrote."""
    return read_table(path)


def write_curves_json(
    points: Iterable[CurvePoint], path: str | Path, extra: Mapping[str, Any] | None = None
) -> None:
    """{"points": [...], **extra} as JSON (extra: run settings, compute, beam results)."""
    payload = {"points": [asdict(p) for p in points], **(extra or {})}
    atomic_write(path, json.dumps(payload, indent=2) + "\n")


def format_table(points: Sequence[CurvePoint]) -> str:
    """A text table: one row per method, one column per k, cells "mean% [lo, hi]"."""
    ks = sorted({p.k for p in points})
    methods = list(dict.fromkeys(p.method for p in points))
    cell = {(p.method, p.k): f"{100 * p.mean:5.1f} [{100 * p.ci_low:4.1f},{100 * p.ci_high:5.1f}]" for p in points}
    width = max([len(m) for m in methods] + [6])
    lines = [f"{'method':<{width}} " + " ".join(f"{'k=' + str(k):>18}" for k in ks)]
    for method in methods:
        lines.append(f"{method:<{width}} " + " ".join(f"{cell.get((method, k), '-'):>18}" for k in ks))
    tokens = {p.k: p.tokens for p in points}
    lines.append(f"{'tokens':<{width}} " + " ".join(f"{tokens[k]:>18.0f}" for k in ks))
    estimators = sorted({p.estimator for p in points} - {"exact"})
    lines.append("accuracy % [95% bootstrap interval over problems]; pass/rm exact over k-subsets"
                 + (f"; votes at 1<k<N: mean of {', '.join(estimators)} subsets per problem" if estimators else ""))
    return "\n".join(lines)


def format_differences(differences: Sequence[PairedDifference]) -> str:
    """A text table of each rule minus the baseline, in points, with paired 95% intervals."""
    if not differences:
        return ""
    ks = sorted({d.k for d in differences})
    methods = list(dict.fromkeys(d.method for d in differences))
    cell = {(d.method, d.k): f"{100 * d.mean:+5.1f} [{100 * d.ci_low:+5.1f},{100 * d.ci_high:+5.1f}]"
            + ("*" if d.significant else " ") for d in differences}
    width = max([len(m) for m in methods] + [6])
    lines = [f"{'- ' + differences[0].baseline:<{width}} " + " ".join(f"{'k=' + str(k):>21}" for k in ks)]
    for method in methods:
        lines.append(f"{method:<{width}} " + " ".join(f"{cell.get((method, k), '-'):>21}" for k in ks))
    lines.append(f"points against {differences[0].baseline}, [paired 95% bootstrap interval over problems]; "
                 "* the interval excludes 0")
    return "\n".join(lines)
