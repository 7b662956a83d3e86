"""Diverse verifier tree search (DVTS): beam search's rounds, one path kept per subtree.

Public: `run`.

The first round's N samples of each problem form M independent subtrees of N/M (M =
`BeamSearchConfig.beam_width`, N = `n_candidates`); each subtree keeps only its own best path
(by the aggregated prefix score) and expands it N/M ways, and ends once its best new path is
finished. Subtrees never compete with each other, which keeps the M final solutions diverse
where plain beam search lets one good prefix take every slot. The rounds themselves (one
engine call and one scorer call per round for all problems of a batch, each prefix scored
once) are `search.beam.search_paths`.
"""

from __future__ import annotations

from typing import Sequence

from prm.engines.base import GenerationEngine
from prm.records import Problem
from prm.scores import StepScorer
from search.beam import BeamSearchConfig, Path, SearchState, rank_new_paths, search_paths
from search.candidates import ProblemCandidates, SearchSetup


def run(
    problems: Sequence[Problem], engine: GenerationEngine, scorer: StepScorer, config: BeamSearchConfig,
    setup: SearchSetup,
) -> list[ProblemCandidates]:
    """DVTS over every problem (the signature every method in `search.methods` has)."""
    return search_paths(problems, engine, scorer, config, setup, _prune_subtrees, "dvts")


def _prune_subtrees(state: SearchState, children: list[Path], config: BeamSearchConfig) -> None:
    ordered = rank_new_paths(state, children, config)
    live = []
    for subtree in sorted({p.subtree for p in ordered} - state.done_subtrees):
        members = [p for p in ordered if p.subtree == subtree]
        if members[0].finished:
            state.done_subtrees.add(subtree)
            continue
        live.append(next(p for p in members if not p.finished))
    state.live = live
