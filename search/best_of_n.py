"""Best-of-n: sample N solutions per problem, score them, pick one.

Public: `BestOfNConfig`, `SELECTIONS`, `run`, `sample_candidates`, `score_candidates`,
`scorer_passes`, `group_candidates`, `select`, `selection_accuracy`.

`sample_candidates` makes one `engine.generate` call per batch of problems (all problems'
prompts together); `score_candidates` makes one scorer call per batch of solutions. Selection
works on the finished records only, so every method (rm@n per score key, majority, weighted
majority, the pass@n oracle) is read off the same samples:

- `"rm"`: the candidate with the highest score (earliest on ties) among those with an answer
  (any candidate when none has one);
- `"majority"`: `search.voting.vote` over answer groups;
- `"weighted"`: the same vote with each candidate weighted by its score;
- `"pass"`: the oracle, a correct candidate when there is one (an upper bound, not a method).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

from prm.engines.base import GenerationEngine, SamplingConfig, check_sampling, generate_seeded, row_seed
from prm.records import Problem
from prm.scores import OutcomeScorer, StepScorer
from prm.steps import StepFormat
from search.candidates import (
    ExtractAnswer,
    GradeAnswer,
    ProblemCandidates,
    SearchSetup,
    candidate_score,
    make_candidate,
)
from search.voting import AnswerGrouper, vote

SELECTIONS = ("rm", "majority", "weighted", "pass")


@dataclass(frozen=True)
class BestOfNConfig:
    """sampling: the policy's sampling, sampling.n solutions per problem; problem_batch_size
    prompts go to the engine per call."""

    sampling: SamplingConfig = SamplingConfig(n=16)
    problem_batch_size: int = 16
    score_batch_size: int = 64

    def __post_init__(self) -> None:
        check_sampling(self)
        for name in ("problem_batch_size", "score_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BestOfNConfig.{name} must be an int >= 1, got {value!r}")


def run(
    problems: Sequence[Problem], engine: GenerationEngine, scorer: StepScorer | None, config: BestOfNConfig,
    setup: SearchSetup,
) -> list[ProblemCandidates]:
    """N graded candidates per problem (the signature every method in `search.methods` has).

    The scorer is not used while sampling: best-of-n candidates are scored afterwards with
    `score_candidates` (one pass for a joint PRM+ORM), which is also how saved samples are
    scored again by a new verifier.
    """
    return sample_candidates(
        engine, problems, config, setup.prompt_for, setup.extract_answer, setup.grade, setup.step_format,
        on_batch=setup.on_batch,
    )


def sample_candidates(
    engine: GenerationEngine,
    problems: Sequence[Problem],
    config: BestOfNConfig,
    prompt_for: Callable[[Problem], str],
    extract_answer: ExtractAnswer,
    grade: GradeAnswer,
    step_format: StepFormat,
    on_batch: Callable[[int], None] | None = None,
) -> list[ProblemCandidates]:
    """N graded candidates per problem. `on_batch(problems_done)` reports progress."""
    results: list[ProblemCandidates] = []
    sampling = config.sampling
    size = config.problem_batch_size
    for start in range(0, len(problems), size):
        batch = problems[start : start + size]
        # A seed per problem: its samples do not depend on the batch it shares (or the shard).
        seeds = None if sampling.seed is None else [row_seed(sampling.seed, p.id) for p in batch]
        completions = generate_seeded(engine, [prompt_for(p) for p in batch], sampling, seeds)
        if len(completions) != len(batch):
            raise ValueError(f"engine returned {len(completions)} results for {len(batch)} prompts")
        for problem, outs in zip(batch, completions):
            candidates = tuple(
                make_candidate(
                    out.text,
                    out.num_tokens,
                    problem.answer,
                    extract_answer,
                    grade,
                    step_format,
                    finished=out.finish_reason == "stop",
                )
                for out in outs
            )
            results.append(
                ProblemCandidates(
                    problem_id=problem.id,
                    prompt=problem.question,
                    gold=problem.answer,
                    candidates=candidates,
                    generated_tokens=sum(c.num_tokens for c in candidates),
                    meta={"method": "bon", "n": sampling.n, "step_format": step_format.to_dict()},
                )
            )
        if on_batch is not None:
            on_batch(len(results))
    return results


def scorer_passes(prm: StepScorer | None, orm: OutcomeScorer | None) -> list[StepScorer | OutcomeScorer]:
    """The scorers `score_candidates` runs a forward pass of, once per solution each: a model with
    both heads (a joint PRM+ORM) passed as both is read once, for its step and outcome scores."""
    if prm is not None and prm is orm and hasattr(prm, "score_steps_and_outcomes"):
        return [prm]
    return [s for s in (prm, orm) if s is not None]


def score_candidates(
    results: Sequence[ProblemCandidates],
    prm: StepScorer | None = None,
    orm: OutcomeScorer | None = None,
    batch_size: int = 64,
) -> list[ProblemCandidates]:
    """The same results with PRM step scores and/or ORM outcome scores filled in.

    A candidate without steps gets empty step scores (it aggregates to 0.0) and is not sent to
    the scorers.
    """
    flat = [(i, j) for i, r in enumerate(results) for j, c in enumerate(r.candidates) if c.steps]
    joint = prm is orm and scorer_passes(prm, orm) == [prm]
    step_scores: dict[tuple[int, int], tuple[float, ...]] = {}
    outcome_scores: dict[tuple[int, int], float] = {}
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        prompts = [results[i].prompt for i, _ in chunk]
        steps = [list(results[i].candidates[j].steps) for i, j in chunk]
        if joint:
            pairs = prm.score_steps_and_outcomes(prompts, steps)
            scores = [step for step, _ in pairs]
            outcome_scores.update((key, float(outcome)) for key, (_, outcome) in zip(chunk, pairs))
        elif prm is not None:
            scores = prm.score_steps(prompts, steps)
        if orm is not None and not joint:
            for key, score in zip(chunk, orm.score_outcomes(prompts, steps)):
                outcome_scores[key] = float(score)
        if prm is not None:
            for key, solution_scores, solution_steps in zip(chunk, scores, steps):
                if len(solution_scores) != len(solution_steps):
                    raise ValueError(
                        f"the PRM returned {len(solution_scores)} scores for "
                        f"{len(solution_steps)} steps of problem {results[key[0]].problem_id!r}"
                    )
                step_scores[key] = tuple(float(s) for s in solution_scores)
    scored = []
    for i, result in enumerate(results):
        candidates = tuple(
            dataclasses.replace(
                c,
                step_scores=step_scores.get((i, j), ()) if prm is not None else c.step_scores,
                outcome_score=outcome_scores.get((i, j), 0.0) if orm is not None else c.outcome_score,
            )
            for j, c in enumerate(result.candidates)
        )
        scored.append(dataclasses.replace(result, candidates=candidates))
    return scored


def group_candidates(
    results: Sequence[ProblemCandidates], grouper: AnswerGrouper
) -> list[ProblemCandidates]:
    """The same results with `group_ids` set from the candidates' answers."""
    return [
        dataclasses.replace(r, group_ids=tuple(grouper.group([c.answer for c in r.candidates])))
        for r in results
    ]


def select(result: ProblemCandidates, method: str, score_key: str | None = None) -> int | None:
    """Index of the chosen candidate, or None when the method picks none.

    method: one of SELECTIONS; "rm" and "weighted" need `score_key` ("prm:min", "orm", ...);
    "majority" and "weighted" need `group_candidates` to have run.
    """
    if method not in SELECTIONS:
        raise ValueError(f"unknown selection {method!r}; choose one of {', '.join(SELECTIONS)}")
    candidates = result.candidates
    if not candidates:
        return None
    if method == "pass":
        return next((j for j, c in enumerate(candidates) if c.is_correct), 0)
    if method in ("majority", "weighted") and len(result.group_ids) != len(candidates):
        raise ValueError(
            f"problem {result.problem_id!r} has no answer groups; run group_candidates first"
        )
    if method == "majority":
        return vote(result.group_ids)
    if score_key is None:
        raise ValueError(f"selection {method!r} needs a score_key such as 'prm:min' or 'orm'")
    scores = [candidate_score(c, score_key) for c in candidates]
    if method == "weighted":
        return vote(result.group_ids, scores)
    # A candidate without an answer is never picked while one with an answer exists.
    return max(range(len(scores)), key=lambda j: (candidates[j].answer is not None, scores[j], -j))


def selection_accuracy(
    results: Sequence[ProblemCandidates], method: str, score_key: str | None = None
) -> float:
    """Fraction of problems whose selected candidate is correct (no pick counts as wrong)."""
    if not results:
        return 0.0
    hits = 0
    for result in results:
        index = select(result, method, score_key)
        hits += index is not None and result.candidates[index].is_correct is True
    return hits / len(results)
