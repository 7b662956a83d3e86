"""search: best-of-n, voting, step-level beam search and accuracy-vs-N curves."""
