"""Scoring a search round's new prefixes: one scorer call for all, each prefix once.

Public: `score_new_paths`, `reuses_states`.

Beam search, DVTS, particle filtering and REBASE all grow paths a step per round and score
the new prefixes here. With a scorer that keeps a prefix's state (`prm.scores.
ExtendingStepScorer`: a toolkit reward model keeps its KV cache) and
`SearchSetup.reuse_scorer_states` (the default), a new path grows the state of the path it
came from, so a round reads only the new steps' tokens, and each problem's prompt is read once.
A path holds its state (`Path.scorer_state`) and drops it when it finishes; a pruned path
takes its state with it. Otherwise (a scorer without states, such as the public-PRM adapters,
or reuse turned off) each new prefix is read whole by `score_steps`. Both give the same step
scores to float tolerance, so the same paths survive.

Counted on each problem's `SearchState`: scored prefixes, the tokens the scorer read
(`scorer_tokens`: from the scorer itself when it keeps states, else from
`SearchSetup.count_scorer_tokens`), and `scorer_rereads`, the prefixes read whole although a
state was at hand (their tokens would not extend the state's, or they do not fit).
"""

from __future__ import annotations

from typing import Any

from prm.scores import ExtendingStepScorer, Extension


def reuses_states(scorer: Any, setup: Any) -> bool:
    """Whether this search extends scorer states (setup: `search.candidates.SearchSetup`)."""
    return bool(setup.reuse_scorer_states) and isinstance(scorer, ExtendingStepScorer) and scorer.can_extend()


def score_new_paths(scorer, active, children, states, cache, setup) -> None:
    """ONE scorer call for every unscored prefix in children (id(state) -> paths); each prefix
    is scored once per (problem index in states, steps), counted on its state. cache maps
    (problem index, steps) to step scores across rounds."""
    index_of = {id(s): i for i, s in enumerate(states)}
    todo: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}
    for state in active:
        for path in children[id(state)]:
            key = (index_of[id(state)], path.steps)
            if key not in cache and len(path.scores) != len(path.steps):
                todo.setdefault(key, (state, path))
    grown: dict[tuple[int, tuple[str, ...]], Extension] = {}
    if todo and reuses_states(scorer, setup):
        for state in active:
            state.scorer_state_reuse = True
        grown = _extend(scorer, todo)
        for key, extension in grown.items():
            cache[key] = extension.step_scores
    elif todo:
        _score_whole(scorer, todo, cache, setup.count_scorer_tokens)
    for state in active:
        for path in children[id(state)]:
            key = (index_of[id(state)], path.steps)
            if key in cache:
                path.scores = cache[key]
            if key in grown:
                path.scorer_state = grown[key]
            if path.finished:
                path.scorer_state = None  # never grown again: free its cache


def _score_whole(scorer, todo, cache, count_scorer_tokens) -> None:
    keys = list(todo)
    scores = scorer.score_steps([todo[k][0].problem.question for k in keys], [list(k[1]) for k in keys])
    for key, (state, _), values in zip(keys, todo.values(), scores):
        _check_count(values, key[1])
        cache[key] = tuple(float(v) for v in values)
        state.scored_prefixes += 1
        if count_scorer_tokens is not None:
            state.scorer_tokens += count_scorer_tokens(state.problem.question, key[1])


def _extend(scorer, todo) -> dict[tuple[int, tuple[str, ...]], Extension]:
    """Each prefix grown from its path's state (the problem's prompt state where it has none)."""
    unread = {id(s): s for s, path in todo.values() if path.scorer_state is None and s.scorer_root is None}
    if unread:
        problems = list(unread.values())
        for state, root in zip(problems, scorer.start([s.problem.question for s in problems])):
            state.scorer_root = root
            state.scorer_tokens += root.tokens_read
    bases = [path.scorer_state or state.scorer_root for state, path in todo.values()]
    # A path's state covers its first len(step_scores) steps: paths only ever grow at the end.
    new_steps = [list(key[1][len(base.step_scores):]) for key, base in zip(todo, bases)]
    extensions = scorer.extend([base.state for base in bases], new_steps)
    for key, (state, _), extension in zip(todo, todo.values(), extensions):
        _check_count(extension.step_scores, key[1])
        state.scored_prefixes += 1
        state.scorer_tokens += extension.tokens_read
        state.scorer_rereads += 0 if extension.reused else 1
    return dict(zip(todo, extensions))


def _check_count(values, steps) -> None:
    if len(values) != len(steps):
        raise ValueError(f"the PRM returned {len(values)} scores for {len(steps)} steps")
