"""ProcessBench metrics: first-error prediction, per-subset F1, threshold tuning.

Public: `SUBSETS`, `SubsetScore`, `predict_first_error`, `subset_score`, `tune_threshold`, `predictions_frame`,
`read_predictions_frame`,
`processbench_report`, `stratified_subset`.

A PRM predicts the first erroneous step as the first step whose score is under the threshold
(-1 when none is). On a subset, `error_accuracy` is the share of erroneous solutions
(label >= 0) whose predicted index equals the label, `correct_accuracy` the share of correct
solutions (label -1) predicted -1, and F1 their harmonic mean, all in percent. The headline is
the unweighted mean of the four subsets' F1. A scalar PRM's threshold is tuned on the GSM8K
subset only and then applied to every subset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

SUBSETS = ("gsm8k", "math", "olympiadbench", "omnimath")


@dataclass(frozen=True)
class SubsetScore:
    """error_accuracy, correct_accuracy and f1 are percentages; counts are solutions."""

    error_accuracy: float
    correct_accuracy: float
    f1: float
    num_error: int
    num_correct: int


def stratified_subset(labels: Sequence[int], limit: int | None, seed: int = 0) -> list[int]:
    """Indices of a seeded sample of `limit` solutions that keeps the file's share of erroneous
    (label >= 0) and correct (label -1) cases, in file order (all indices for None or a limit at
    least the file's size). The files list erroneous cases first, so the first N rows alone
    would hold no correct case."""
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    if limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    erroneous = [i for i, label in enumerate(labels) if label >= 0]
    correct = [i for i, label in enumerate(labels) if label < 0]
    take_error = round(limit * len(erroneous) / len(labels))
    take_error = min(max(take_error, 1 if erroneous else 0), len(erroneous), limit)
    take_correct = min(limit - take_error, len(correct))
    rng = np.random.default_rng(seed)
    chosen = list(rng.choice(erroneous, take_error, replace=False)) if take_error else []
    chosen += list(rng.choice(correct, take_correct, replace=False)) if take_correct else []
    return sorted(int(i) for i in chosen)


def predict_first_error(step_scores: Sequence[float], threshold: float) -> int:
    """Index of the first step scored under `threshold`, or -1."""
    return next((i for i, score in enumerate(step_scores) if score < threshold), -1)


def subset_score(predictions: Sequence[int], labels: Sequence[int]) -> SubsetScore:
    """Accuracy on erroneous and on correct cases, and their harmonic mean (percent).

    An empty side has accuracy 0 (so the F1 is 0: the subset cannot show both skills).
    """
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    erroneous = [p == label for p, label in zip(predictions, labels) if label >= 0]
    correct = [p == -1 for p, label in zip(predictions, labels) if label < 0]
    error_accuracy = 100.0 * sum(erroneous) / len(erroneous) if erroneous else 0.0
    correct_accuracy = 100.0 * sum(correct) / len(correct) if correct else 0.0
    total = error_accuracy + correct_accuracy
    f1 = 2 * error_accuracy * correct_accuracy / total if total else 0.0
    return SubsetScore(error_accuracy, correct_accuracy, f1, len(erroneous), len(correct))


def tune_threshold(
    step_scores: Sequence[Sequence[float]], labels: Sequence[int]
) -> tuple[float, SubsetScore]:
    """The threshold with the best F1 on these solutions, exactly (no grid), and its score.

    Each solution is right for an interval of thresholds: a correct one for t <= min(scores),
    an erroneous one with label L for scores[L] < t <= min(scores[:L]). So every optimum is
    attained at one of those interval ends; all are tried. Ties go to the smallest threshold.
    """
    if len(step_scores) != len(labels) or not labels:
        raise ValueError(f"need as many step-score lists as labels, got {len(step_scores)}, {len(labels)}")
    lows, highs = [], []  # solution i is predicted right for lows[i] < t <= highs[i]
    for scores, label in zip(step_scores, labels):
        if label >= len(scores):
            raise ValueError(f"label {label} points past the {len(scores)} scored steps")
        if label < 0:
            lows.append(-np.inf)
            highs.append(min(scores, default=np.inf))
        else:
            lows.append(scores[label])
            highs.append(min(scores[:label], default=np.inf))
    lows_array, highs_array = np.array(lows, dtype=float), np.array(highs, dtype=float)
    above = np.nextafter(lows_array[np.isfinite(lows_array)], np.inf)
    candidates = np.unique(np.concatenate([highs_array[np.isfinite(highs_array)], above, [0.5]]))
    is_error = np.array(labels) >= 0
    right = (lows_array[None, :] < candidates[:, None]) & (candidates[:, None] <= highs_array[None, :])
    error_accuracy = 100.0 * _share(right[:, is_error])
    correct_accuracy = 100.0 * _share(right[:, ~is_error])
    total = error_accuracy + correct_accuracy
    f1 = np.where(total > 0, 2 * error_accuracy * correct_accuracy / np.where(total > 0, total, 1), 0.0)
    best = int(np.argmax(f1))  # first maximum = smallest threshold
    threshold = float(candidates[best])
    predictions = [predict_first_error(s, threshold) for s in step_scores]
    return threshold, subset_score(predictions, labels)


def _share(right: np.ndarray) -> np.ndarray:
    return right.mean(axis=1) if right.shape[1] else np.zeros(right.shape[0])


def processbench_report(
    subsets: Mapping[str, tuple[Sequence[Sequence[float]], Sequence[int]]],
    threshold: float | None = None,
    tune_on: str = "gsm8k",
) -> dict[str, Any]:
    """Scores per subset and their unweighted mean F1.

    subsets: name -> (per-solution step scores, per-solution first-error labels).
    threshold: a fixed threshold, or None to tune it on the `tune_on` subset only.
    Returns {"threshold", "tuned_on", "subsets": {name: SubsetScore fields}, "average_f1"}.
    """
    if not subsets:
        raise ValueError("no ProcessBench subsets given")
    tuned_on = None
    if threshold is None:
        if tune_on not in subsets:
            raise ValueError(
                f"cannot tune the threshold on {tune_on!r}: subsets given are {sorted(subsets)}; "
                "include it or pass a fixed threshold"
            )
        threshold, _ = tune_threshold(*subsets[tune_on])
        tuned_on = tune_on
    report: dict[str, Any] = {"threshold": threshold, "tuned_on": tuned_on, "subsets": {}}
    for name, (step_scores, labels) in subsets.items():
        predictions = [predict_first_error(s, threshold) for s in step_scores]
        report["subsets"][name] = subset_score(predictions, labels).__dict__
    f1s = [s["f1"] for s in report["subsets"].values()]
    report["average_f1"] = float(sum(f1s) / len(f1s))
    return report


def predictions_frame(
    subsets: Mapping[str, tuple[Sequence[Sequence[float]], Sequence[int]]],
    threshold: float,
    ids: Mapping[str, Sequence[Any]] | None = None,
):
    """One row per case: subset, case (its position in the subset), id (where `ids` names
    them), label and predicted first-error index (-1: no error), right (prediction == label),
    steps and the lowest step score. `subsets` as `processbench_report` takes it; the
    subset_score of each subset's rows is the report's."""
    import pandas as pd

    rows = []
    for name, (step_scores, labels) in subsets.items():
        names = list(ids[name]) if ids is not None and name in ids else [None] * len(labels)
        for case, (scores, label, key) in enumerate(zip(step_scores, labels, names)):
            prediction = predict_first_error(scores, threshold)
            rows.append({"subset": name, "case": case, "id": key, "label": int(label), "prediction": prediction,
                         "right": prediction == label, "steps": len(scores),
                         "min_score": float(min(scores)) if len(scores) else None})
    columns = ["subset", "case", "id", "label", "prediction", "right", "steps", "min_score"]
    return pd.DataFrame(rows, columns=columns)


def read_predictions_frame(path):
    """The per-case table `predictions_frame` gave, from the CSV (or Parquet) it was written to."""
    from prm.tables import read_table

    return read_table(path)
