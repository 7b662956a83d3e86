"""The search methods behind one signature, and the table the command line dispatches through.

Public: `SearchMethod`, `METHODS`.

Every method is a module with `run(problems, engine, scorer, config, setup) ->
list[ProblemCandidates]` (setup: `search.candidates.SearchSetup`) and a typed config:

    bon   search.best_of_n   BestOfNConfig     N samples per problem (scored afterwards)
    beam  search.beam        BeamSearchConfig  step-level beam search guided by the PRM
    dvts  search.dvts        BeamSearchConfig  diverse verifier tree search (one path per subtree)
    particle_filter  search.particle_filter  ParticleFilterConfig  particles resampled by PRM step scores
    rebase  search.rebase    RebaseConfig      reward-balanced tree (expansions by a softmax of rewards)

A new method is one more module and one more row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from search import beam, best_of_n, dvts, particle_filter, rebase


@dataclass(frozen=True)
class SearchMethod:
    """run: the method's entry point. config: its config type. needs_scorer: the PRM guides it."""

    run: Callable[..., Any]
    config: type
    needs_scorer: bool


METHODS: dict[str, SearchMethod] = {
    "bon": SearchMethod(best_of_n.run, best_of_n.BestOfNConfig, needs_scorer=False),
    "beam": SearchMethod(beam.run, beam.BeamSearchConfig, needs_scorer=True),
    "dvts": SearchMethod(dvts.run, beam.BeamSearchConfig, needs_scorer=True),
    "particle_filter": SearchMethod(particle_filter.run, particle_filter.ParticleFilterConfig, needs_scorer=True),
    "rebase": SearchMethod(rebase.run, rebase.RebaseConfig, needs_scorer=True),
}
