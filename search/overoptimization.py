"""Overoptimization of a proxy reward under best-of-n selection, judged by an exact gold reward.

Public: `GOLD_MEASURES`, `WEAK_PROXIES`, `kl_best_of_n`, `align_pools`, `score_key_proxy`,
`ensemble_proxy`, `weak_proxy`, `OveroptimizationPoint`, `OveroptimizationReport`,
`overoptimization_curves`, `gold_bends`, `report_json`, `curves_frame`, `plot_overoptimization`.

Gao, Schulman and Hilton (2022): picking the best of n samples by a proxy reward moves the
policy a KL of `log n - (n - 1) / n` away from the sampling policy; the proxy score of the pick
keeps rising with n, while the gold score rises, peaks and falls once the proxy's errors
dominate the selection. Here a pool of N scored samples per problem stands in for the policy,
and for every n in 1, 2, 4, ..., N and every proxy, expected over the uniform n-subsets of each
pool (exact: `search.curves.pick_probabilities`, the highest proxy wins, a tie is split evenly):

- `proxy`: the proxy score of the pick;
- the gold measures of the pick (`search.synthetic_eval.gold_correctness` on the synthetic
  task): `final_answer` (right answer) and `all_steps` (right answer, every step right).

Each point is the mean over problems with a 95% bootstrap interval over problems (the same
resamples for every point, so curves can be compared point by point). `gold_bends` says where a
gold curve peaks and whether it falls after the peak (the paired interval of peak minus the
largest n); the peak is picked on the same data, so the fall is an optimistic estimate.

Proxies are arrays of scores, one per candidate, per problem: a score key of one reward model's
scoring (`score_key_proxy`: "prm:last", "orm", ...), an ensemble of several scorings of the same
samples (`ensemble_proxy`: per step, as `prm.ensemble.EnsembleScorer` combines, then
aggregated), or a deliberately weak one (`weak_proxy`: "neg_steps" prefers the fewest steps,
"neg_tokens" the fewest tokens, "noisy" a proxy plus seeded Gaussian noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from prm.ensemble import combine
from search.candidates import ProblemCandidates, candidate_score
from search.curves import default_ks, paired_interval, pick_probabilities
from search.plots import new_figure, save_png

GOLD_MEASURES = ("final_answer", "all_steps")
WEAK_PROXIES = ("neg_steps", "neg_tokens", "noisy")


def kl_best_of_n(n: int) -> float:
    """The KL (nats) of the best-of-n policy from the sampling policy: log n - (n - 1) / n."""
    if n < 1:
        raise ValueError(f"best-of-n needs n >= 1, got {n}")
    return math.log(n) - (n - 1) / n


def align_pools(pools: Sequence[Sequence[ProblemCandidates]]) -> list[list[ProblemCandidates]]:
    """Several scorings of the same samples, each in the first one's problem order. Every pool
    must hold the same problems, each with the same candidate texts in the same order
    (`prm search --results POOL --prm OTHER` rescoring writes exactly that)."""
    if not pools:
        raise ValueError("no pools of samples given")
    first = list(pools[0])
    ids = [r.problem_id for r in first]
    if len(set(ids)) != len(ids):
        raise ValueError("a problem appears twice in the first pool; give each problem's samples once")
    aligned = [first]
    for index, pool in enumerate(pools[1:], start=2):
        by_id = {r.problem_id: r for r in pool}
        if set(by_id) != set(ids) or len(pool) != len(ids):
            raise ValueError(f"pool {index} holds other problems than pool 1; score the same samples "
                             "(prm search --results POOL/bon.jsonl --prm MODEL)")
        ordered = [by_id[pid] for pid in ids]
        for mine, theirs in zip(first, ordered):
            if [c.text for c in mine.candidates] != [c.text for c in theirs.candidates]:
                raise ValueError(f"pool {index}, problem {mine.problem_id!r}: other samples than pool 1; "
                                 "an ensemble combines scorings of the same samples")
        aligned.append(ordered)
    return aligned


def score_key_proxy(results: Sequence[ProblemCandidates], key: str) -> list[np.ndarray]:
    """Per problem, the candidates' solution scores under a score key (`search.candidates`)."""
    return [np.array([candidate_score(c, key) for c in r.candidates], dtype=float) for r in results]


def ensemble_proxy(pools: Sequence[Sequence[ProblemCandidates]], key: str, how: str = "mean",
                   k: float = 1.0) -> list[np.ndarray]:
    """Per problem, the solution scores of an ensemble of aligned scorings (`align_pools`):
    step scores combined per step across members (`prm.ensemble.combine`: mean, min, or
    mean - k * std), then aggregated as `key` says; for "orm" the outcome scores combined."""
    if len(pools) < 2:
        raise ValueError("an ensemble needs at least two scorings of the samples")
    scores = []
    for members in zip(*pools):
        values = []
        for candidates in zip(*(member.candidates for member in members)):
            if key == "orm":
                outcomes = [c.outcome_score for c in candidates]
                if any(o is None for o in outcomes):
                    raise ValueError("score key 'orm' needs outcome scores in every pool; score them with --orm")
                values.append(combine(outcomes, how, k))
                continue
            steps = [c.step_scores for c in candidates]
            if any(s is None for s in steps) or len({len(s) for s in steps}) != 1:
                raise ValueError(f"score key {key!r}: every pool needs step scores for every step; "
                                 "score them with --prm")
            combined = tuple(combine(list(step), how, k) for step in zip(*steps))
            values.append(candidate_score(replace(candidates[0], step_scores=combined), key))
        scores.append(np.array(values, dtype=float))
    return scores


def weak_proxy(results: Sequence[ProblemCandidates], name: str, base: Sequence[np.ndarray] | None = None,
               noise_sd: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """A deliberately weak proxy (see WEAK_PROXIES): "neg_steps" (minus the step count),
    "neg_tokens" (minus the generated tokens), "noisy" (`base` plus N(0, noise_sd) noise, one
    seeded draw per candidate)."""
    if name == "neg_steps":
        return [np.array([-len(c.steps) for c in r.candidates], dtype=float) for r in results]
    if name == "neg_tokens":
        return [np.array([-c.num_tokens for c in r.candidates], dtype=float) for r in results]
    if name == "noisy":
        if base is None:
            raise ValueError("the noisy proxy needs a base proxy to add noise to")
        if not noise_sd > 0:
            raise ValueError(f"noise_sd must be > 0, got {noise_sd!r}")
        rng = np.random.default_rng(seed)
        return [values + rng.normal(0.0, noise_sd, size=len(values)) for values in base]
    raise ValueError(f"unknown weak proxy {name!r}; choose one of {', '.join(WEAK_PROXIES)}")


@dataclass(frozen=True)
class OveroptimizationPoint:
    """One proxy at one n: `measure` ("proxy" or a gold measure) of the pick, its mean over
    problems and the bootstrap interval."""

    proxy: str
    n: int
    kl: float
    measure: str
    mean: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class OveroptimizationReport:
    points: list[OveroptimizationPoint]
    per_problem: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


def overoptimization_curves(
    proxies: Mapping[str, Sequence[np.ndarray]],
    gold: Mapping[str, Sequence[np.ndarray]],
    ns: Sequence[int] | None = None,
    bootstrap: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> OveroptimizationReport:
    """Proxy and gold of the best-of-n pick by each proxy, for each n (module docstring).

    proxies / gold: name -> one array per problem, one value per candidate (same shapes).
    ns: subset sizes (default 1, 2, 4, ... up to the smallest pool, and that size)."""
    if not proxies or not gold:
        raise ValueError("overoptimization curves need at least one proxy and one gold measure")
    shapes = {name: [len(v) for v in values] for name, values in {**proxies, **gold}.items()}
    reference = next(iter(shapes.values()))
    if not reference:
        raise ValueError("no problems in the pools")
    for name, sizes in shapes.items():
        if sizes != reference:
            raise ValueError(f"{name!r} has other pool sizes than the rest; give one value per candidate")
    smallest = min(reference)
    ns = list(ns) if ns is not None else default_ks(max(smallest, 1))
    if smallest < 1 or any(not isinstance(n, int) or n < 1 or n > smallest for n in ns):
        raise ValueError(f"n must be in 1..{smallest} (the smallest pool), got {ns}")
    points, per_problem = [], {}
    for name, values in proxies.items():
        for n in ns:
            picks = [pick_probabilities(v, n) for v in values]
            measures = {"proxy": values, **gold}
            for measure, columns in measures.items():
                expected = np.array([float((p * c).sum()) for p, c in zip(picks, columns)])
                low, high = paired_interval(expected, bootstrap, seed, confidence)
                points.append(OveroptimizationPoint(name, n, kl_best_of_n(n), measure, float(expected.mean()),
                                                    low, high))
                per_problem[(name, measure, n)] = expected
    config = {"ns": ns, "problems": len(reference), "pool_size_min": smallest, "pool_size_max": max(reference),
              "bootstrap": bootstrap, "confidence": confidence, "seed": seed, "gold_measures": list(gold)}
    return OveroptimizationReport(points, per_problem, config)


def gold_bends(report: OveroptimizationReport, measure: str = "final_answer") -> dict[str, dict[str, Any]]:
    """Per proxy: the n where the gold measure peaks (the smallest on a tie), its value there
    and at the largest n, and the paired bootstrap interval of peak minus largest-n over
    problems; `falls` is True when that interval lies above 0."""
    config = report.config
    bends = {}
    for name in dict.fromkeys(p.proxy for p in report.points):
        curve = [p for p in report.points if p.proxy == name and p.measure == measure]
        if not curve:
            raise ValueError(f"no gold measure {measure!r} in the report; choose one of {config.get('gold_measures')}")
        peak = max(curve, key=lambda p: (p.mean, -p.n))
        last = max(curve, key=lambda p: p.n)
        delta = report.per_problem[(name, measure, peak.n)] - report.per_problem[(name, measure, last.n)]
        low, high = paired_interval(delta, config["bootstrap"], config["seed"] + 1, config["confidence"])
        bends[name] = {"peak_n": peak.n, "peak_kl": peak.kl, "peak": peak.mean, "last_n": last.n, "last": last.mean,
                       "peak_minus_last": float(delta.mean()), "ci": [low, high], "falls": bool(low > 0)}
    return bends


def report_json(report: OveroptimizationReport) -> dict[str, Any]:
    """{"config", "proxies": {name: [{"n", "kl", <measure>: {"mean", "ci"}, ...} per n]}, "bends":
    {gold measure: gold_bends(...)}}."""
    proxies: dict[str, dict[int, dict[str, Any]]] = {}
    for p in report.points:
        row = proxies.setdefault(p.proxy, {}).setdefault(p.n, {"n": p.n, "kl": p.kl})
        row[p.measure] = {"mean": p.mean, "ci": [p.ci_low, p.ci_high]}
    return {"config": dict(report.config),
            "proxies": {name: list(rows.values()) for name, rows in proxies.items()},
            "bends": {measure: gold_bends(report, measure) for measure in report.config["gold_measures"]}}


def curves_frame(report: OveroptimizationReport):
    """The points as a pandas DataFrame, one row per (proxy, n, measure)."""
    import pandas as pd

    return pd.DataFrame([p.__dict__ for p in report.points])


def plot_overoptimization(report: OveroptimizationReport, path: str | Path, title: str = "") -> Path:
    """One panel per proxy against KL_bon: the proxy score of the pick (left axis) and each
    gold measure in % with its 95% band (right axis). matplotlib's object API (no pyplot)."""
    names = list(dict.fromkeys(p.proxy for p in report.points))
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = new_figure(4.6 * columns, 3.6 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[len(names):]:
        unused.set_visible(False)
    colours = {"final_answer": "tab:green", "all_steps": "tab:orange"}
    for axis, name in zip(axes, names):
        proxy = sorted((p for p in report.points if p.proxy == name and p.measure == "proxy"), key=lambda p: p.n)
        axis.plot([p.kl for p in proxy], [p.mean for p in proxy], "o-", color="tab:blue", label="proxy score")
        axis.set_xlabel("KL_bon = log n - (n-1)/n (nats)")
        axis.set_ylabel("proxy score of the pick", color="tab:blue")
        axis.set_title(name)
        gold_axis = axis.twinx()
        for measure in report.config["gold_measures"]:
            curve = sorted((p for p in report.points if p.proxy == name and p.measure == measure), key=lambda p: p.n)
            kls = [p.kl for p in curve]
            colour = colours.get(measure, "tab:red")
            gold_axis.plot(kls, [100 * p.mean for p in curve], "s--", color=colour, label=f"gold: {measure}")
            gold_axis.fill_between(kls, [100 * p.ci_low for p in curve], [100 * p.ci_high for p in curve],
                                   color=colour, alpha=0.15)
        gold_axis.set_ylabel("gold accuracy of the pick (%)")
        for p in proxy:
            axis.annotate(f"n={p.n}", (p.kl, p.mean), fontsize=6, textcoords="offset points", xytext=(2, 3))
        lines = axis.get_legend_handles_labels()
        gold_lines = gold_axis.get_legend_handles_labels()
        axis.legend(lines[0] + gold_lines[0], lines[1] + gold_lines[1], fontsize=7, loc="best")
    if title:
        figure.suptitle(title, fontsize=10)
    return save_png(figure, path)
