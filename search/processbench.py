"""ProcessBench metrics (moved to `prm.metrics.processbench`, which training shares; re-exported here)."""

from prm.metrics.processbench import (
    SUBSETS,
    SubsetScore,
    predict_first_error,
    predictions_frame,
    processbench_report,
    read_predictions_frame,
    stratified_subset,
    subset_score,
    tune_threshold,
)

__all__ = ["SUBSETS", "SubsetScore", "predict_first_error", "processbench_report", "stratified_subset",
           "subset_score", "tune_threshold", "predictions_frame", "read_predictions_frame"]
