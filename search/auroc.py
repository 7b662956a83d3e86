"""Step-level AUROC (moved to `prm.metrics.auroc`, which training shares; re-exported here)."""

from prm.metrics.auroc import auroc, distinct_step_labels, step_auroc, within_problem_auroc

__all__ = ["auroc", "distinct_step_labels", "step_auroc", "within_problem_auroc"]
