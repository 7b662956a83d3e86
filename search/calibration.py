"""Calibration of step probabilities against step labels, and the threshold protocol.

Public: `ReliabilityBin`, `labelled_steps`, `reliability_bins`, `expected_calibration_error`,
`threshold_protocol`, `calibration_report`, `plot_reliability`.

A PRM's step score is read as P(the solution is right up to and including this step). Against
0/1 labels of the same event:

- `reliability_bins(probabilities, labels, bins)`: equal-width bins over [0, 1] (the last one
  closed), each with its count, mean probability and share of good steps;
- `expected_calibration_error`: sum over bins of (count / total) x |mean probability - share
  good| (Guo et al. 2017, equal-width bins); 0 is perfect, and the Brier score beside it;
- `labelled_steps(step_scores, labels)`: the (probability, label) pairs of a set of solutions,
  each solution cut after its first bad step (the steps every source labels alike: ProcessBench
  labels nothing after the first error, PRM800K's critic rows stop there, and the exact
  synthetic truth calls everything after it bad by convention, which would only add easy steps);
  soft labels count as good at >= 0.5.
- `threshold_protocol`: the threshold for calling a step bad is chosen on a validation split
  and applied, unchanged, to a test split. Solutions (not steps: steps of one solution are not
  independent) are split at random with a seed; the threshold maximises balanced accuracy
  (the mean of the good-step and the bad-step recall) on validation; test reports balanced
  accuracy at that threshold, at 0.5, and the test ECE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from search.plots import new_figure, save_png


@dataclass(frozen=True)
class ReliabilityBin:
    """Steps whose probability lies in [low, high) (the last bin: [low, 1]); mean_probability and
    share_good are None for an empty bin."""

    low: float
    high: float
    count: int
    mean_probability: float | None
    share_good: float | None


def labelled_steps(step_scores: Sequence[Sequence[float]], labels: Sequence[Sequence[float | bool | None]],
                   counted: Sequence[Sequence[bool]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, 0/1 labels, solution index per step) over the labelled steps of every
    solution, up to and including its first bad step; a step without a label is skipped, and
    so is one whose `counted` flag is False (a prefix already counted in another record: see
    `search.auroc.distinct_step_labels`; the cut still follows the record's own labels)."""
    if len(step_scores) != len(labels) or (counted is not None and len(counted) != len(labels)):
        raise ValueError(f"{len(step_scores)} scored solutions for {len(labels)} labelled ones")
    probabilities, good, owner = [], [], []
    for index, (scores, steps) in enumerate(zip(step_scores, labels)):
        if len(scores) < len(steps):
            raise ValueError(f"solution {index}: {len(scores)} step scores for {len(steps)} labelled steps")
        flags = counted[index] if counted is not None else [True] * len(steps)
        for score, label, count in zip(scores, steps, flags):
            if label is None:
                continue
            right = float(label) >= 0.5
            if count:
                probabilities.append(float(score))
                good.append(right)
                owner.append(index)
            if not right:
                break
    return np.array(probabilities, dtype=float), np.array(good, dtype=bool), np.array(owner, dtype=int)


def _check(probabilities, labels) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=bool)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"{p.size} probabilities for {y.size} labels; give one per step")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("step probabilities must lie in [0, 1] (no NaN)")
    return p, y


def reliability_bins(probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width reliability bins (module docstring)."""
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"bins must be an int >= 1, got {bins!r}")
    p, y = _check(probabilities, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    result = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        result.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), count,
                                     float(p[members].mean()) if count else None,
                                     float(y[members].mean()) if count else None))
    return result


def expected_calibration_error(probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """Sum over equal-width bins of (count / total) x |mean probability - share good|."""
    table = reliability_bins(probabilities, labels, bins)
    total = sum(b.count for b in table)
    if total == 0:
        raise ValueError("expected calibration error of no steps")
    return float(sum(b.count / total * abs(b.mean_probability - b.share_good) for b in table if b.count))


def _balanced_accuracy(p: np.ndarray, y: np.ndarray, threshold: float) -> float | None:
    """Mean of good-step recall (p >= t) and bad-step recall (p < t); None without both kinds."""
    if y.all() or not y.any():
        return None
    return float(((p[y] >= threshold).mean() + (p[~y] < threshold).mean()) / 2)


def threshold_protocol(probabilities: Sequence[float], labels: Sequence[bool], owners: Sequence[int],
                       validation_fraction: float = 0.5, seed: int = 0, bins: int = 10) -> dict[str, Any]:
    """The threshold chosen on a seeded validation split of the solutions, applied to the rest."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    p, y = _check(probabilities, labels)
    owner = np.asarray(owners, dtype=int)
    solutions = np.unique(owner)
    if len(solutions) < 2:
        raise ValueError("the threshold protocol needs at least two solutions (one validation, one test)")
    shuffled = np.random.default_rng(seed).permutation(solutions)
    cut = min(max(1, round(validation_fraction * len(solutions))), len(solutions) - 1)
    validation = np.isin(owner, shuffled[:cut])
    test = ~validation
    candidates = np.unique(np.concatenate([p[validation], [0.5]]))
    scored = [(_balanced_accuracy(p[validation], y[validation], t), t) for t in candidates]
    scored = [(value, t) for value, t in scored if value is not None]
    report: dict[str, Any] = {"validation_solutions": int(cut), "test_solutions": int(len(solutions) - cut),
                              "validation_steps": int(validation.sum()), "test_steps": int(test.sum()),
                              "seed": seed, "rule": "maximise balanced accuracy on validation"}
    if not scored:
        report.update(threshold=None, note="validation holds only good or only bad steps: no threshold chosen")
        return report
    best_value, threshold = max(scored, key=lambda item: (item[0], -abs(item[1] - 0.5)))
    report.update(threshold=float(threshold), validation_balanced_accuracy=best_value,
                  test_balanced_accuracy=_balanced_accuracy(p[test], y[test], threshold),
                  test_balanced_accuracy_at_0_5=_balanced_accuracy(p[test], y[test], 0.5),
                  test_ece=expected_calibration_error(p[test], y[test], bins))
    return report


def calibration_report(step_scores: Sequence[Sequence[float]], labels: Sequence[Sequence[Any]], bins: int = 10,
                       validation_fraction: float = 0.5, seed: int = 0,
                       counted: Sequence[Sequence[bool]] | None = None) -> dict[str, Any]:
    """ECE, Brier score, reliability bins and the threshold protocol of one labelled source
    (`labelled_steps` picks the steps)."""
    p, y, owner = labelled_steps(step_scores, labels, counted)
    if p.size == 0:
        raise ValueError("no labelled steps to calibrate against")
    return {
        "solutions": int(len(np.unique(owner))),
        "steps": int(p.size),
        "good_steps": int(y.sum()),
        "bad_steps": int((~y).sum()),
        "ece": expected_calibration_error(p, y, bins),
        "brier": float(((p - y) ** 2).mean()),
        "mean_probability": float(p.mean()),
        "share_good": float(y.mean()),
        "bins": [b.__dict__ for b in reliability_bins(p, y, bins)],
        "threshold_protocol": threshold_protocol(p, y, owner, validation_fraction, seed, bins),
    }


def plot_reliability(reports: Mapping[str, Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """One reliability diagram per source (its `calibration_report`): share of good steps
    against mean probability per bin, bars for the step counts, the diagonal for perfect."""
    figure = new_figure(4.0 * len(reports), 4.0)
    axes = figure.subplots(1, len(reports), squeeze=False)[0]
    for axis, (name, report) in zip(axes, reports.items()):
        filled = [b for b in report["bins"] if b["count"]]
        width = report["bins"][0]["high"] - report["bins"][0]["low"]
        axis.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
        axis.bar([b["low"] for b in report["bins"]], [b["share_good"] or 0 for b in report["bins"]], width=width,
                 align="edge", alpha=0.35, edgecolor="tab:blue", label="share good per bin")
        axis.plot([b["mean_probability"] for b in filled], [b["share_good"] for b in filled], "o-", color="tab:blue",
                  label="at the bin's mean probability")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("step probability")
        axis.set_ylabel("share of good steps")
        axis.set_title(f"{name}: ECE {report['ece']:.3f}, {report['steps']} steps", fontsize=9)
        axis.legend(fontsize=7, loc="upper left")
    if title:
        figure.suptitle(title, fontsize=10)
    return save_png(figure, path)
