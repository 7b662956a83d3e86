"""prm.cli: the command-line wing. One module per verb, and `wiring`, the only place that turns
names (data sets, engines, scorers, the grader) into objects.

Public: `main(argv) -> int` (the `prm` console script; `prm.cli.main` holds the dispatch).

Library packages (the rest of `prm`, `orm`, `labeling`, `search`) never import this package;
only it parses argv, prints results or chooses exit codes.
"""

from prm.cli.main import main

__all__ = ["main"]
