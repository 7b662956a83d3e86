"""Particle filtering guided by a PRM (Puri et al. 2025), batched across problems.

Public: `ParticleFilterConfig`, `run`, `resampling_weights`.

Each problem holds `n_particles` partial solutions. Every round makes ONE `engine.generate`
call for the open particles of all problems in the batch (one step each, n=1, with a seed per
(problem, round, particle slot), so copies of one particle continue differently) and ONE
`scorer.score_steps` call for the new prefixes (each prefix scored once, as in beam search).
Then every problem's particles, finished ones included, are weighted by a softmax over
particles of the logit of their last step score divided by `resample_temperature`, and
`n_particles` of them are drawn with replacement (a seeded draw per problem and round).
Finished particles are carried along unchanged; a problem ends when every particle is finished,
after `max_steps` rounds, or once it has spent `max_tokens` generated tokens.

The result holds the final population (copies included, so votes count them), best first by
the aggregated step score, with the same compute accounting as beam search.
"""

from __future__ import annotations

import math
import random
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

_EPSILON = 1e-6  # keeps logit(p) finite for scorers that return exactly 0 or 1


@dataclass(frozen=True)
class ParticleFilterConfig:
    """n_particles partial solutions per problem, resampled after every step.

    resample_temperature: softmax temperature over the particles' last-step logits (lower:
    greedier resampling). sampling: the policy's temperature, top_p, seed and one step's
    max_new_tokens (n and stop are set each round); max_tokens: per-problem budget (None: none). aggregation: how the final
    population is ranked. problem_batch_size: problems searched together (None: all at once).
    """

    n_particles: int = 16
    resample_temperature: float = 1.0
    max_steps: int = 12
    max_tokens: int | None = None
    aggregation: str = "last"
    sampling: SamplingConfig = STEP_SAMPLING
    problem_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_round_options(self, ("n_particles",))
        if not isinstance(self.resample_temperature, (int, float)) or not self.resample_temperature > 0:
            raise ValueError(f"ParticleFilterConfig.resample_temperature must be a number > 0, got {self.resample_temperature!r}")


def resampling_weights(last_scores: Sequence[float], temperature: float) -> list[float]:
    """softmax_i(logit(last_scores[i]) / temperature): the probability of drawing particle i.

    last_scores: one PRM probability per particle (its last step); an empty particle (no step
    yet) counts as 0.5. Scores are clipped to [1e-6, 1 - 1e-6] so the logits stay finite.
    """
    logits = []
    for score in last_scores:
        p = min(max(float(score), _EPSILON), 1.0 - _EPSILON)
        logits.append(math.log(p / (1.0 - p)) / temperature)
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [x / total for x in exps]


def run(
    problems: Sequence[Problem], engine: GenerationEngine, scorer: StepScorer, config: ParticleFilterConfig,
    setup: SearchSetup,
) -> list[ProblemCandidates]:
    """Particle filtering over every problem (the signature every method in `search.methods` has)."""
    return in_problem_batches(
        problems, config.problem_batch_size, setup,
        lambda states: _search(engine, scorer, states, config, setup),
        lambda state: _result(state, config, setup),
    )


def _search(engine, scorer, states: list[SearchState], config: ParticleFilterConfig, setup: SearchSetup) -> None:
    score_cache: dict[tuple[int, tuple[str, ...]], tuple[float, ...]] = {}
    # Round 0 grows every particle from the bare prompt (parent None).
    population: dict[int, list[Path | None]] = {id(s): [None] * config.n_particles for s in states}
    for round_index in range(config.max_steps):
        active = [s for s in states if not s.done]
        if not active:
            return
        slots = [(s, slot) for s in active for slot, p in enumerate(population[id(s)]) if p is None or not p.finished]
        seeds = None
        if config.sampling.seed is not None:
            seeds = [row_seed(config.sampling.seed, s.problem.id, round_index, slot) for s, slot in slots]
        sampling = step_sampling(config, 1, setup.step_format)
        prompts = [policy_text(s, population[id(s)][slot], setup.step_format) for s, slot in slots]
        outputs = generate_seeded(engine, prompts, sampling, seeds)
        grown: dict[int, list[Path]] = {id(s): [] for s in active}
        for (state, slot), (completion,) in zip(slots, outputs):
            state.tokens += completion.num_tokens
            parent = population[id(state)][slot]
            path = grow_path(parent, completion, slot if parent is None else parent.subtree)
            if path is not None:
                population[id(state)][slot] = path
                grown[id(state)].append(path)
        score_new_paths(scorer, active, grown, states, score_cache, setup)
        for state in active:
            state.rounds += 1
            particles = [p for p in population[id(state)] if p is not None]
            if not particles:
                state.done = True
                continue
            # A particle whose step came back empty keeps its old prefix and still competes.
            population[id(state)] = _resample(particles, config, state.problem.id, round_index)
            state.live = [p for p in population[id(state)] if not p.finished]
            state.finished = [p for p in population[id(state)] if p.finished]
            over_budget = config.max_tokens is not None and state.tokens >= config.max_tokens
            if not state.live or over_budget:
                state.done = True


def _resample(particles: list[Path], config: ParticleFilterConfig, problem_id: str, round_index: int) -> list[Path]:
    weights = resampling_weights([p.scores[-1] if p.scores else 0.5 for p in particles], config.resample_temperature)
    rng = random.Random(None if config.sampling.seed is None else row_seed(config.sampling.seed, problem_id, round_index, "resample"))
    return rng.choices(particles, weights=weights, k=config.n_particles)


def _result(state: SearchState, config: ParticleFilterConfig, setup: SearchSetup) -> ProblemCandidates:
    # sorted() is stable: equal scores keep their particle order.
    paths = sorted(state.finished + state.live, key=lambda p: aggregate(p.scores, config.aggregation), reverse=True)
    meta = {
        "method": "particle_filter",
        "n_particles": config.n_particles,
        "resample_temperature": config.resample_temperature,
        "aggregation": config.aggregation,
        "temperature": config.sampling.temperature,
    }
    return paths_result(state, paths, setup, meta)
