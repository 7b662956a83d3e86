"""Length bias of rewards: do they grow with a solution's length or step count?

Public: `CORRELATIONS`, `correlation`, `partial_correlation`, `length_bias`, `results_length_bias`,
`undefined_as_none`.

A reward model that prefers long solutions will be hacked by a policy trained on it (longer,
padded answers). `length_bias(rewards, lengths, step_counts, correct)` reports, for each named
reward, its correlation with the solution length and with the number of steps:

- `raw`: over all solutions;
- `given_correctness`: the partial correlation controlling for correctness (0/1), i.e. the
  correlation of what is left of reward and length once each is regressed on correctness. For
  a 0/1 covariate that is the correlation of the values centred within the correct and the
  incorrect group: a reward can be long-biased only because correct solutions are longer; this
  removes that part;
- `correct_only` / `incorrect_only`: within each group.

`results_length_bias(results, keys)` does it for search results: each score key's solution
scores against generated tokens and step counts, given the grader's verdict (undefined
correlations as None: `undefined_as_none`).

Pearson (linear) or Spearman (Pearson of average ranks; ties share their rank). A correlation
over fewer than 2 values or with a constant side is NaN (undefined, not 0).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from prm.metrics.auroc import _average_ranks
from search.candidates import ProblemCandidates, candidate_score

CORRELATIONS = ("pearson", "spearman")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    return float((dx * dy).sum() / denominator) if denominator > 0 else math.nan


def _prepare(x: Sequence[float], y: Sequence[float], method: str) -> tuple[np.ndarray, np.ndarray]:
    if method not in CORRELATIONS:
        raise ValueError(f"unknown correlation {method!r}; choose one of {', '.join(CORRELATIONS)}")
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"correlation of {xs.size} values with {ys.size} values; give one per solution")
    if np.isnan(xs).any() or np.isnan(ys).any():
        raise ValueError("correlation of NaN values: drop the solutions without a reward first")
    if method == "spearman" and xs.size:
        xs, ys = _average_ranks(xs), _average_ranks(ys)
    return xs, ys


def correlation(x: Sequence[float], y: Sequence[float], method: str = "pearson") -> float:
    """Pearson or Spearman correlation of x and y (NaN where undefined)."""
    xs, ys = _prepare(x, y, method)
    return _pearson(xs, ys)


def partial_correlation(x: Sequence[float], y: Sequence[float], groups: Sequence[bool],
                        method: str = "pearson") -> float:
    """Correlation of x and y controlling for a 0/1 covariate: each centred within its group.

    Spearman ranks over all values first, then centres (the usual rank partial correlation).
    """
    xs, ys = _prepare(x, y, method)
    group = np.asarray(groups, dtype=bool)
    if group.shape != xs.shape:
        raise ValueError(f"{group.size} correctness values for {xs.size} solutions")
    xs, ys = xs.copy(), ys.copy()
    for members in (group, ~group):
        if members.any():
            xs[members] -= xs[members].mean()
            ys[members] -= ys[members].mean()
    return _pearson(xs, ys)


def length_bias(
    rewards: Mapping[str, Sequence[float]],
    lengths: Sequence[float],
    step_counts: Sequence[float],
    correct: Sequence[bool],
    method: str = "pearson",
) -> dict[str, dict[str, dict[str, float]]]:
    """{reward name: {"length"|"steps": {"raw", "given_correctness", "correct_only",
    "incorrect_only"}}}. lengths: per solution, in tokens or characters (say which in a
    report); step_counts: steps per solution; correct: the grader's verdict per solution."""
    group = np.asarray(correct, dtype=bool)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for name, values in rewards.items():
        values = np.asarray(values, dtype=float)
        if values.shape != group.shape:
            raise ValueError(f"reward {name!r} has {values.size} values for {group.size} solutions")
        report[name] = {}
        for what, size in (("length", lengths), ("steps", step_counts)):
            size = np.asarray(size, dtype=float)
            if size.shape != group.shape:
                raise ValueError(f"{what}: {size.size} values for {group.size} solutions")
            report[name][what] = {
                "raw": correlation(values, size, method),
                "given_correctness": partial_correlation(values, size, group, method),
                "correct_only": correlation(values[group], size[group], method),
                "incorrect_only": correlation(values[~group], size[~group], method),
            }
    return report


def results_length_bias(results: Sequence[ProblemCandidates], keys: Sequence[str],
                        method: str = "pearson") -> dict[str, dict[str, dict[str, float]]]:
    """`length_bias` over every candidate of the results: each key's solution score against
    its generated tokens (`num_tokens`) and step count, correctness = the grader's verdict."""
    candidates = [c for r in results for c in r.candidates]
    return undefined_as_none(length_bias({key: [candidate_score(c, key) for c in candidates] for key in keys},
                       [c.num_tokens for c in candidates], [len(c.steps) for c in candidates],
                       [c.is_correct is True for c in candidates], method))


def undefined_as_none(
    report: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """The report with every undefined (NaN) correlation as None, for strict JSON."""
    return {name: {what: {case: None if math.isnan(value) else value for case, value in cases.items()}
                   for what, cases in sizes.items()} for name, sizes in report.items()}
