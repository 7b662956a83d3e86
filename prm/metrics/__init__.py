"""Metrics of step scores that training, evaluation and search share.

Public: `prm.metrics.auroc` (`auroc`, `step_auroc`, `distinct_step_labels`, `within_problem_auroc`)
and `prm.metrics.processbench` (first-error prediction, per-subset F1, threshold tuning). They
live in the core so that `prm.training` can log them during training; `search.auroc` and
`search.processbench` re-export them.
"""
