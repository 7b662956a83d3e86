"""Answer extraction and equivalence grading (see prm.grading.grader)."""
