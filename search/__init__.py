"""search: best-of-n, voting, step-level beam search, accuracy-vs-N curves and PRM evaluation.

Methods, one module each behind one signature, `run(problems, engine, scorer, config, setup)`,
and the table `methods.METHODS` the command line dispatches through: `best_of_n` (sampling,
scoring, selection), `beam` (step-level beam search, batched across problems), `dvts` (diverse
verifier tree search on beam's rounds), `particle_filter` (particles resampled by PRM step
scores), `rebase` (reward-balanced tree expansion). Also: `candidates` (result records, `SearchSetup`,
jsonl I/O, score keys), `voting` (majority / weighted vote over grader-equivalent answers),
`curves` (bootstrap maj@k, weighted@k, rm@k, pass@k), `plots` (PNG, matplotlib optional),
`processbench` (first-error F1, threshold tuning), `auroc` (step-level AUROC). The commands
`prm search` and `prm eval` live in the CLI wing (`prm.cli.search`, `prm.cli.eval`, set up by
`prm.cli.wiring`). Search depends on the scorer and engine protocols only (prm.scores,
prm.engines.base), never on training, labeling or orm.
"""
