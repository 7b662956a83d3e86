"""search: best-of-n, voting, step-level beam search, accuracy-vs-N curves and PRM evaluation.

Modules: `candidates` (result records, jsonl I/O, score keys), `voting` (majority / weighted
vote over grader-equivalent answers), `best_of_n` (sampling, scoring, selection), `beam`
(step-level beam search and DVTS, batched across problems), `curves` (bootstrap maj@k,
weighted@k, rm@k, pass@k), `plots` (PNG, matplotlib optional), `processbench` (first-error
F1, threshold tuning), `auroc` (step-level AUROC); `cli` (`prm search`), `eval_cli`
(`prm eval`) and `wiring` (their model/data/grader set-up). Search depends on the scorer and
engine protocols only (prm.scores, prm.engines.base), never on training, labeling or orm.
"""
