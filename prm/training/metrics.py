"""What an evaluation during training reports besides the loss.

Public: `reward_metrics(heads)`, `processbench_metrics(scorer, subsets)`.

`reward_metrics(heads)` is a Trainer `compute_metrics`: from the step and outcome logits and
labels of the evaluation set (`RewardTrainer.prediction_step`) it gives, for each head the
objective trains, the accuracy at p >= 0.5 against the label rounded at 0.5 and the AUROC
(`step_accuracy`, `step_auroc`, `outcome_accuracy`, `outcome_auroc`; the Trainer prefixes
`eval_`). Positions without a label are skipped; an AUROC of a set with one class only is left
out. `processbench_metrics` scores ProcessBench subsets with the model being trained and gives
the F1 per subset and their mean, with the threshold tuned on the GSM8K subset where it is
given (else 0.5), as `prm eval processbench` does.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from prm.metrics.auroc import auroc
from prm.metrics.processbench import processbench_report
from prm.records import StepwiseSolution
from prm.training.collate import IGNORE


def _head_metrics(name: str, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    mask = labels != IGNORE
    if not mask.any():
        return {}
    probabilities = 1.0 / (1.0 + np.exp(-logits[mask].astype(np.float64)))
    good = labels[mask] >= 0.5
    metrics = {f"{name}_accuracy": float(((probabilities >= 0.5) == good).mean())}
    if 0 < good.sum() < good.size:
        metrics[f"{name}_auroc"] = auroc(probabilities, good)
    return metrics


def reward_metrics(heads: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    """compute_metrics over EvalPrediction(predictions=(step_logits (n, seq), outcome_logits
    (n,)), label_ids=(step_labels (n, seq), outcome_labels (n,))), for the heads given."""

    def compute(prediction: Any) -> dict[str, float]:
        (step_logits, outcome_logits), (step_labels, outcome_labels) = prediction.predictions, prediction.label_ids
        metrics: dict[str, float] = {}
        if "step" in heads:
            metrics.update(_head_metrics("step", np.asarray(step_logits), np.asarray(step_labels)))
        if "outcome" in heads:
            metrics.update(_head_metrics("outcome", np.asarray(outcome_logits), np.asarray(outcome_labels)))
        return metrics

    return compute


def processbench_metrics(scorer: Any, subsets: Mapping[str, Sequence[StepwiseSolution]]) -> dict[str, float]:
    """`processbench_f1` (the unweighted mean over subsets), `processbench_<subset>_f1` and
    `processbench_threshold`, from a `StepScorer` over ProcessBench records (meta["label"])."""
    scored = {
        name: (scorer.score_steps([s.prompt for s in records], [list(s.steps) for s in records]),
               [int(s.meta["label"]) for s in records])
        for name, records in subsets.items()
    }
    report = processbench_report(scored, threshold=None if "gsm8k" in scored else 0.5)
    metrics = {f"processbench_{name}_f1": float(score["f1"]) for name, score in report["subsets"].items()}
    metrics["processbench_f1"] = float(report["average_f1"])
    metrics["processbench_threshold"] = float(report["threshold"])
    return metrics
