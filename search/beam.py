"""Step-level beam search guided by a PRM, batched across problems.

Public: `BeamSearchConfig`, `run`, `search_paths` (the round loop `search.dvts` shares),
`rank_new_paths`, `Path`, `SearchState`, and the round pieces the other tree searches
(`search.particle_filter`, `search.rebase`) share: `check_round_options`, `in_problem_batches`,
`step_sampling`, `policy_text`, `grow_path`, `paths_result` (and `score_new_paths`, from
`search.prefix_scores`).

Each round makes ONE `engine.generate` call for all live paths of all problems in the batch
(each path asks for N/M continuations that stop at the StepFormat delimiter) and ONE
`scorer.score_steps` call for all new prefixes. A path ends when the policy stops by end of
sequence (finish_reason "stop" with no stop string); finished paths are kept aside.

- Beam search: the beam holds the M best paths (by the aggregated prefix score) of the new
  paths and the finished paths already in it; finished paths keep their slot but are not
  expanded, and the problem ends when all M slots hold finished paths (as in sequence beam
  search). A wrong solution that finishes early therefore ends the search only if it
  outscores the open paths.
- DVTS (`search.dvts`) runs the same rounds and keeps one path per subtree instead.
Budgets: `max_steps` rounds, and `max_tokens` generated tokens per problem (checked before
each round). A problem that ends with no finished path returns its live paths, unfinished.

Work per prefix: each new prefix is scored exactly once (a cache keyed on (problem, steps)
also catches duplicate samples); scores of earlier steps are never asked for again. With a
scorer that keeps states (a toolkit reward model), a new prefix grows its parent's KV cache and
the scorer reads only the new step (`search.prefix_scores`); the meta of every result says
whether it did (`scorer_state_reuse`) and counts the tokens read either way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from prm.engines.base import STEP_SAMPLING, GenerationEngine, SamplingConfig, check_sampling, generate_seeded, row_seed
from prm.records import Problem
from prm.scores import AGGREGATIONS, StepScorer, aggregate
from prm.steps import StepFormat
from search.candidates import ProblemCandidates, SearchSetup, make_candidate
from search.prefix_scores import score_new_paths


@dataclass(frozen=True)
class BeamSearchConfig:
    """beam_width M paths live on per problem; n_candidates N new steps per round (N/M each).

    sampling: the policy's temperature, top_p, seed and max_new_tokens for one step (n and stop
    are set each round). max_tokens: per-problem budget (None: none).
    aggregation: how a prefix's step scores rank it (and rank the finished solutions).
    problem_batch_size: problems searched together (None: all at once; 1: one at a time).
    """

    beam_width: int = 4
    n_candidates: int = 16
    max_steps: int = 12
    max_tokens: int | None = None
    aggregation: str = "last"
    sampling: SamplingConfig = STEP_SAMPLING
    problem_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_round_options(self, ("beam_width", "n_candidates"))
        if self.n_candidates % self.beam_width:
            raise ValueError(
                f"BeamSearchConfig.n_candidates ({self.n_candidates}) must be a multiple of "
                f"beam_width ({self.beam_width}): each beam expands n_candidates / beam_width"
            )

    @property
    def expansions(self) -> int:
        return self.n_candidates // self.beam_width


def check_round_options(config, counts: Sequence[str]) -> None:
    """Validate the options every round-based search config has (max_steps, sampling,
    max_tokens, problem_batch_size, aggregation) plus its own `counts` (ints >= 1); a bad
    value raises ValueError naming the config, the field and the allowed values."""
    kind = type(config).__name__
    check_sampling(config)
    for name in (*counts, "max_steps"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{kind}.{name} must be an int >= 1, got {value!r}")
    for name in ("max_tokens", "problem_batch_size"):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{kind}.{name} must be None or an int >= 1, got {value!r}")
    if config.aggregation not in AGGREGATIONS:
        raise ValueError(f"{kind}.aggregation must be one of {', '.join(AGGREGATIONS)}, got {config.aggregation!r}")


def step_sampling(config, n: int, step_format: StepFormat) -> SamplingConfig:
    """Sampling for one step: n continuations of config.sampling that stop at the step delimiter."""
    return dataclasses.replace(config.sampling, n=n, stop=step_format.stop_strings)


@dataclass
class Path:
    """One partial solution: its steps, their scores, the tokens spent, its DVTS subtree.

    scorer_state: the scorer's state (a `prm.scores.Extension`) of this path's prefix, or of
    the prefix it grew from until it is scored; None when the scorer keeps none.
    """

    steps: tuple[str, ...]
    scores: tuple[float, ...]
    tokens: int
    subtree: int
    finished: bool = False
    scorer_state: Any = field(default=None, repr=False, compare=False)


@dataclass
class SearchState:
    """One problem's search: live and finished paths and what it has spent."""

    problem: Problem
    policy_prompt: str
    live: list[Path] = field(default_factory=list)
    finished: list[Path] = field(default_factory=list)
    beam_finished: list[Path] = field(default_factory=list)
    done_subtrees: set[int] = field(default_factory=set)
    tokens: int = 0
    rounds: int = 0
    scored_prefixes: int = 0
    scorer_tokens: int = 0
    scorer_rereads: int = 0
    scorer_state_reuse: bool = False
    scorer_root: Any = None
    done: bool = False


def run(
    problems: Sequence[Problem], engine: GenerationEngine, scorer: StepScorer, config: BeamSearchConfig,
    setup: SearchSetup,
) -> list[ProblemCandidates]:
    """Beam search over every problem (the signature every method in `search.methods` has)."""
    return search_paths(problems, engine, scorer, config, setup, _prune_beam, "beam")


Prune = Callable[[SearchState, list[Path], BeamSearchConfig], None]


def search_paths(
    problems: Sequence[Problem], engine: GenerationEngine, scorer: StepScorer, config: BeamSearchConfig,
    setup: SearchSetup, prune: Prune, method: str,
) -> list[ProblemCandidates]:
    """The rounds beam search and DVTS share: generate, score each new prefix once, then
    prune(state, new paths, config) decides what lives on. `method` names the results."""
    return in_problem_batches(
        problems, config.problem_batch_size, setup,
        lambda states: _search(engine, scorer, states, config, setup, prune),
        lambda state: _result(state, config, setup, method),
    )


def in_problem_batches(
    problems: Sequence[Problem], batch_size: int | None, setup: SearchSetup,
    search_batch: Callable[[list[SearchState]], None], result_of: Callable[[SearchState], ProblemCandidates],
) -> list[ProblemCandidates]:
    """search_batch(states) on `batch_size` problems at a time (None: all), then result_of(state)
    per problem in order, reporting progress to setup.on_batch after each batch."""
    size = batch_size or max(len(problems), 1)
    results: list[ProblemCandidates] = []
    for start in range(0, len(problems), size):
        states = [SearchState(p, setup.prompt_for(p)) for p in problems[start : start + size]]
        search_batch(states)
        results.extend(result_of(s) for s in states)
        if setup.on_batch is not None:
            setup.on_batch(len(results))
    return results


def _search(engine, scorer, states, config, setup, prune) -> None:
    step_format = setup.step_format
    score_cache: dict[tuple[int, tuple[str, ...]], tuple[float, ...]] = {}
    for round_index in range(config.max_steps):
        active = [s for s in states if not s.done]
        if not active:
            return
        first = round_index == 0
        # Round 0 asks for N samples of each bare prompt (one root, split later into M
        # subtrees); later rounds ask for N/M per live path.
        parents = [(s, None) for s in active] if first else [(s, p) for s in active for p in s.live]
        # One seed per (problem, round, beam slot): a problem's samples do not depend on which
        # other problems share the batch, so batched and one-at-a-time runs agree.
        seeds = None
        if config.sampling.seed is not None:
            seeds = [
                row_seed(config.sampling.seed, s.problem.id, round_index, slot)
                for s in active
                for slot in range(1 if first else len(s.live))
            ]
        sampling = step_sampling(config, config.n_candidates if first else config.expansions, step_format)
        prompts = [policy_text(s, p, step_format) for s, p in parents]
        outputs = generate_seeded(engine, prompts, sampling, seeds)
        children: dict[int, list[Path]] = {id(s): [] for s in active}
        for (state, parent), completions in zip(parents, outputs):
            for j, completion in enumerate(completions):
                state.tokens += completion.num_tokens
                path = grow_path(parent, completion, j // config.expansions if first else None)
                if path is not None:
                    children[id(state)].append(path)
        score_new_paths(scorer, active, children, states, score_cache, setup)
        for state in active:
            state.rounds += 1
            prune(state, children[id(state)], config)
            over_budget = config.max_tokens is not None and state.tokens >= config.max_tokens
            if not state.live or over_budget:
                state.done = True


def policy_text(state: SearchState, parent: Path | None, step_format: StepFormat) -> str:
    """The policy prompt that continues `parent` by one step (the bare prompt for None)."""
    if parent is None or not parent.steps:
        return state.policy_prompt
    return state.policy_prompt + step_format.join(parent.steps) + step_format.delimiter


def grow_path(parent: Path | None, completion, subtree: int | None) -> Path | None:
    """`parent` plus the completion's step (unscored), or None for an empty step that is no end."""
    steps = parent.steps if parent is not None else ()
    step = completion.text.strip()
    finished = completion.finish_reason == "stop" and completion.stop_string is None
    if not step and (not finished or not steps):
        return None  # an empty step makes no progress; drop it rather than loop on it
    return Path(
        steps=steps + (step,) if step else steps,
        scores=parent.scores if parent is not None else (),
        tokens=(parent.tokens if parent is not None else 0) + completion.num_tokens,
        subtree=subtree if subtree is not None else parent.subtree,
        finished=finished,
        scorer_state=parent.scorer_state if parent is not None else None,
    )


def rank_new_paths(state: SearchState, children: list[Path], config: BeamSearchConfig) -> list[Path]:
    """The new paths best first by their aggregated prefix score (ties keep sample order); the
    finished ones are also set aside in state.finished."""
    # sorted() is stable, so equal scores keep their order: ties go to paths already in the
    # beam, then to the earlier sample.
    ordered = sorted(children, key=lambda path: aggregate(path.scores, config.aggregation), reverse=True)
    state.finished.extend(p for p in ordered if p.finished)
    return ordered


def _prune_beam(state: SearchState, children: list[Path], config: BeamSearchConfig) -> None:
    ordered = rank_new_paths(state, children, config)
    pool = sorted(state.beam_finished + ordered, key=lambda p: aggregate(p.scores, config.aggregation), reverse=True)
    # Identical paths (duplicate samples) take one slot: the rest stay in `finished` only.
    beam: list[Path] = []
    for path in pool:
        if len(beam) < config.beam_width and all(path.steps != kept.steps for kept in beam):
            beam.append(path)
    state.beam_finished = [p for p in beam if p.finished]
    state.live = [p for p in beam if not p.finished]


def _result(state: SearchState, config: BeamSearchConfig, setup: SearchSetup, method: str) -> ProblemCandidates:
    paths = state.finished or state.live
    paths = sorted(paths, key=lambda p: aggregate(p.scores, config.aggregation), reverse=True)
    meta = {
        "method": method,
        "beam_width": config.beam_width,
        "n_candidates": config.n_candidates,
        "aggregation": config.aggregation,
        "temperature": config.sampling.temperature,
    }
    return paths_result(state, paths, setup, meta)


def paths_result(state: SearchState, paths: Sequence[Path], setup: SearchSetup, meta: dict) -> ProblemCandidates:
    """One problem's result row: `paths` as candidates in the order given, graded, with their
    step scores; meta plus the compute the state counted (rounds, scored prefixes, scorer tokens,
    whether scorer states were reused and how many prefixes were read whole despite one)."""
    extract_answer, grade, step_format = setup.extract_answer, setup.grade, setup.step_format
    candidates = []
    for path in paths:
        candidate = make_candidate(
            step_format.join(path.steps),
            path.tokens,
            state.problem.answer,
            extract_answer,
            grade,
            step_format,
            finished=path.finished,
            steps=path.steps,
        )
        candidates.append(dataclasses.replace(candidate, step_scores=path.scores))
    return ProblemCandidates(
        problem_id=state.problem.id,
        prompt=state.problem.question,
        gold=state.problem.answer,
        candidates=tuple(candidates),
        generated_tokens=state.tokens,
        meta={
            **meta,
            "rounds": state.rounds,
            "scored_prefixes": state.scored_prefixes,
            "scorer_tokens": state.scorer_tokens,
            "scorer_state_reuse": state.scorer_state_reuse,
            "scorer_rereads": state.scorer_rereads,
            "step_format": step_format.to_dict(),
        },
    )
