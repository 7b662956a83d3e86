"""search: best-of-n, voting, step-level beam search, accuracy-vs-N curves and PRM evaluation.

Modules: `candidates` (result records, jsonl I/O, score keys), `voting` (majority / weighted
vote over grader-equivalent answers), `best_of_n` (sampling, scoring, selection), `beam`
(step-level beam search and DVTS, batched across problems), `curves` (bootstrap maj@k,
weighted@k, rm@k, pass@k), `plots` (PNG, matplotlib optional), `processbench` (first-error
F1, threshold tuning), `auroc` (step-level AUROC). The commands `prm search` and `prm eval`
live in the CLI wing (`prm.cli.search`, `prm.cli.eval`, set up by `prm.cli.wiring`). Search depends on the scorer and
engine protocols only (prm.scores, prm.engines.base), never on training, labeling or orm.
"""
