"""REBASE (reward balanced search, Wu et al. 2024): a PRM-guided tree, batched across problems.

Public: `RebaseConfig`, `run`, `allocate_expansions`.

Each problem has a budget of `n_candidates` solutions. Round 0 samples that many first steps.
After each round the new nodes are scored; finished ones take their share of the budget for
good, and the remaining budget W is split over the open nodes by a softmax of their rewards
(the aggregated step score) divided by `balance_temperature`: node i is expanded
round(W * softmax_i) ways (largest remainders, so the counts sum to W exactly) and a node that
gets 0 is pruned. A problem ends when its whole budget has finished, after `max_steps` rounds,
or once it has spent `max_tokens` generated tokens; its result holds every finished solution
(the live nodes when none finished), best first.

Calls: each round makes one `engine.generate` call per distinct expansion count (all nodes of
all problems in the batch that expand w ways share the call with n=w; one seed per (problem,
round, node)), and ONE `scorer.score_steps` call for all new prefixes, each scored once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from prm.engines.base import STEP_SAMPLING, GenerationEngine, SamplingConfig, generate_seeded, row_seed
from prm.records import Problem
from prm.scores import StepScorer, aggregate
from search.beam import (
    Path,
    SearchState,
    check_round_options,
    grow_path,
    in_problem_batches,
    paths_result,
    policy_text,
    step_sampling,
)
from search.candidates import ProblemCandidates, SearchSetup
from search.prefix_scores import score_new_paths


@dataclass(frozen=True)
class RebaseConfig:
    """n_candidates: solutions per problem (the tree's width budget). balance_temperature: the
    softmax temperature over node rewards (lower: more budget to the best nodes).

    sampling: the policy's temperature, top_p, seed and one step's max_new_tokens (n and stop are
    set each round); max_tokens: per-problem budget (None: none).
    aggregation: a node's reward from its step scores (and the final ranking).
    problem_batch_size: problems searched together (None: all at once).
    """

    n_candidates: int = 16
    balance_temperature: float = 0.1
    max_steps: int = 12
    max_tokens: int | None = None
    aggregation: str = "last"
    sampling: SamplingConfig = STEP_SAMPLING
    problem_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_round_options(self, ("n_candidates",))
        if not isinstance(self.balance_temperature, (int, float)) or not self.balance_temperature > 0:
            raise ValueError(f"RebaseConfig.balance_temperature must be a number > 0, got {self.balance_temperature!r}")


def allocate_expansions(rewards: Sequence[float], budget: int, temperature: float) -> list[int]:
    """Expansions per node: budget * softmax(rewards / temperature), rounded by largest
    remainders (ties to the earlier node) so that the counts sum to `budget` exactly."""
    if not rewards or budget <= 0:
        return [0] * len(rewards)
    top = max(rewards)
    exps = [math.exp((r - top) / temperature) for r in rewards]
    total = sum(exps)
    quotas = [budget * e / total for e in exps]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(rewards)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: budget - sum(counts)]:
        counts[i] += 1
    return counts


def run(
    problems: Sequence[Problem], engine: GenerationEngine, scorer: StepScorer, config: RebaseConfig,
    setup: SearchSetup,
) -> list[ProblemCandidates]:
    """REBASE over every problem (the signature every method in `search.methods` has)."""
    return in_problem_batches(
        problems, config.problem_batch_size, setup,
        lambda states: _search(engine, scorer, states, config, setup),
        lambda state: _result(state, config, setup),
    )


def _search(engine, scorer, states: list[SearchState], config: RebaseConfig, setup: SearchSetup) -> None:
    score_cache: dict[tuple[int, tuple[str, ...]], tuple[float, ...]] = {}
    # (node, expansions) per problem; the root (None) expands the whole budget.
    frontier: dict[int, list[tuple[Path | None, int]]] = {id(s): [(None, config.n_candidates)] for s in states}
    for round_index in range(config.max_steps):
        active = [s for s in states if not s.done]
        if not active:
            return
        by_slot: dict[tuple[int, int], list[Path]] = {}
        for ways in sorted({w for s in active for _, w in frontier[id(s)]}):
            parents = [(s, slot, node) for s in active for slot, (node, w) in enumerate(frontier[id(s)]) if w == ways]
            seeds = None
            if config.sampling.seed is not None:
                seeds = [row_seed(config.sampling.seed, s.problem.id, round_index, slot) for s, slot, _ in parents]
            sampling = step_sampling(config, ways, setup.step_format)
            prompts = [policy_text(s, node, setup.step_format) for s, _, node in parents]
            outputs = generate_seeded(engine, prompts, sampling, seeds)
            for (state, slot, node), completions in zip(parents, outputs):
                grown = by_slot.setdefault((id(state), slot), [])
                for completion in completions:
                    state.tokens += completion.num_tokens
                    path = grow_path(node, completion, 0)
                    if path is not None:
                        grown.append(path)
        # Children in node order (not call order), so the tree does not depend on the batch.
        children = {
            id(s): [p for slot in range(len(frontier[id(s)])) for p in by_slot.get((id(s), slot), [])]
            for s in active
        }
        score_new_paths(scorer, active, children, states, score_cache, setup)
        for state in active:
            state.rounds += 1
            _balance(state, children[id(state)], frontier, config)
            over_budget = config.max_tokens is not None and state.tokens >= config.max_tokens
            if not state.live or over_budget:
                state.done = True


def _balance(state: SearchState, children: list[Path], frontier, config: RebaseConfig) -> None:
    state.finished.extend(p for p in children if p.finished)
    open_nodes = [p for p in children if not p.finished]
    budget = config.n_candidates - len(state.finished)
    rewards = [aggregate(p.scores, config.aggregation) for p in open_nodes]
    counts = allocate_expansions(rewards, budget, config.balance_temperature)
    frontier[id(state)] = [(node, w) for node, w in zip(open_nodes, counts) if w > 0]
    state.live = [node for node, _ in frontier[id(state)]]


def _result(state: SearchState, config: RebaseConfig, setup: SearchSetup) -> ProblemCandidates:
    paths = sorted(state.finished or state.live, key=lambda p: aggregate(p.scores, config.aggregation), reverse=True)
    meta = {
        "method": "rebase",
        "n_candidates": config.n_candidates,
        "balance_temperature": config.balance_temperature,
        "aggregation": config.aggregation,
        "temperature": config.sampling.temperature,
    }
    return paths_result(state, paths, setup, meta)
