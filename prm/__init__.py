"""prm: process and outcome reward models for math reasoning.

The core every other package builds on: the step contract (`prm.steps`), records
(`prm.records`), data readers (`prm.data`), answer grading (`prm.grading`), generation engines
(`prm.engines`), reward models (`prm.modeling`), training (`prm.training`) and scoring
(`prm.scoring`). The `prm` command lives in `prm.cli`.

The Python API, one call each (`prm.api`): `load_scorer`, `score`, `best_of_n`, `beam_search`,
`label`, `grade`, with their results `SearchResult` and `Labels`:

    from prm import load_scorer, score, best_of_n, beam_search, label, grade

They load on first use (PEP 562), so `import prm` and the core modules import no search,
labeling or orm code, and no torch.
"""

from prm.records import Problem, StepwiseSolution
from prm.steps import StepFormat

API = ("load_scorer", "score", "best_of_n", "beam_search", "label", "grade", "SearchResult", "Labels")
__all__ = ["Problem", "StepwiseSolution", "StepFormat", *API]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in API:  # the API sits on top of the layers; the core never reaches it otherwise
        from prm import api

        return getattr(api, name)
    raise AttributeError(f"module 'prm' has no attribute {name!r}")
