"""Particle filtering on a scripted policy: exact engine and scorer calls, resampling, seeds."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from prm.engines.base import SamplingConfig
from prm.engines.scripted import ScriptedEngine
from prm.records import Problem
from prm.steps import StepFormat
from search import particle_filter
from search.candidates import SearchSetup
from search.particle_filter import ParticleFilterConfig, resampling_weights
from tests.test_search_fakes import CountingEngine, KeywordPRM, extract_answer, grade

PROBLEMS = [
    Problem(id="p1", question="q1 gold=4", answer="4"),
    Problem(id="p2", question="q2 gold=9", answer="9"),
]
SETUP = SearchSetup(lambda p: f"Q:{p.question}|", extract_answer, grade, StepFormat())


def alternating_policy():
    """Each prompt's k-th request (n=1 each) is a good step for even k, a bad one for odd k, at
    depths 0 and 1; depth 2 ends the solution, right only after two good steps."""
    asked: Counter[str] = Counter()

    def script(prompt: str, index: int) -> str:
        k = asked[prompt]
        asked[prompt] += 1
        head, rest = prompt.split("|", 1)
        steps = [s for s in rest.split("\n\n") if s]
        if len(steps) < 2:
            return f"{'good' if k % 2 == 0 else 'bad'} step d{len(steps)}k{k}\n\nleftover"
        gold = head.split("gold=")[1] if all("good" in s for s in steps) else "0"
        return f"done, the answer is {gold}"

    return CountingEngine(ScriptedEngine(script))


def search(**kwargs):
    engine, scorer = alternating_policy(), KeywordPRM()
    config = ParticleFilterConfig(**{"n_particles": 4, "sampling": SamplingConfig(max_new_tokens=50), **kwargs})
    return engine, scorer, particle_filter.run(PROBLEMS, engine, scorer, config, SETUP)


def test_resampling_weights_are_a_softmax_of_last_step_logits():
    # logit(0.5) = 0, logit(0.75) = ln 3: weights 1:3, and 1:9 at temperature 0.5.
    assert resampling_weights([0.5, 0.75], 1.0) == pytest.approx([0.25, 0.75])
    assert resampling_weights([0.5, 0.75], 0.5) == pytest.approx([0.1, 0.9])
    assert resampling_weights([0.0, 1.0], 1.0)[1] == pytest.approx(1.0)
    assert all(math.isfinite(w) for w in resampling_weights([0.0, 0.0], 1.0))


def test_one_engine_and_one_scorer_call_per_round_for_all_problems():
    # Near-zero temperature: only good particles survive each resampling.
    engine, scorer, results = search(resample_temperature=1e-3)
    assert len(engine.calls) == len(scorer.calls) == 3
    assert [len(prompts) for prompts, _ in engine.calls] == [8, 8, 8]
    assert all(s.n == 1 and s.stop == ("\n\n",) for _, s in engine.calls)
    assert engine.calls[0][0] == ["Q:q1 gold=4|"] * 4 + ["Q:q2 gold=9|"] * 4
    assert all("good" in p and "bad" not in p for p in engine.calls[1][0])
    # Every new prefix is scored once; copies of one particle that write the same step share it.
    scored = [item for call in scorer.calls for item in call]
    assert len(scored) == len(set(scored))
    assert [len(call) for call in scorer.calls] == [8, 8, 4]
    for result, gold in zip(results, ["4", "9"]):
        assert result.meta["method"] == "particle_filter" and result.meta["rounds"] == 3
        assert len(result.candidates) == 4  # the whole final population, copies included
        assert all(c.finished and c.is_correct and c.answer == gold for c in result.candidates)
        assert all(c.step_scores == (0.9, 0.9, 0.5) for c in result.candidates)
        assert result.meta["scored_prefixes"] == 4 + 4 + 2
    assert sum(r.generated_tokens for r in results) == engine.engine.generated_tokens


def test_finished_particles_are_carried_not_expanded():
    def early(prompt, index):
        head, rest = prompt.split("|", 1)
        if not rest:
            return "good: the answer is " + head.split("gold=")[1]
        raise AssertionError("a finished particle was expanded")

    engine = CountingEngine(ScriptedEngine(early))
    config = ParticleFilterConfig(n_particles=3, sampling=SamplingConfig(max_new_tokens=50))
    results = particle_filter.run(PROBLEMS, engine, KeywordPRM(), config, SETUP)
    assert len(engine.calls) == 1
    assert all(r.meta["rounds"] == 1 and len(r.candidates) == 3 for r in results)


def test_seeded_runs_repeat_and_batching_does_not_change_them():
    common = {"resample_temperature": 1.0, "sampling": SamplingConfig(max_new_tokens=50, seed=3)}
    _, _, first = search(**common)
    _, _, again = search(**common)
    single_engine, _, single = search(problem_batch_size=1, **common)
    assert first == again == single
    assert len(single_engine.calls) == 6
    draws = {tuple(c.steps for c in search(sampling=SamplingConfig(max_new_tokens=50, seed=s))[2][0].candidates) for s in range(8)}
    assert len(draws) > 1  # the seed drives the resampling


def test_budgets():
    engine, _, results = search(max_steps=1)
    assert len(engine.calls) == 1 and all(not c.finished for r in results for c in r.candidates)
    engine, _, results = search(max_tokens=1)
    assert len(engine.calls) == 1


def test_config_validation():
    with pytest.raises(ValueError, match="resample_temperature"):
        ParticleFilterConfig(resample_temperature=0)
    with pytest.raises(ValueError, match="n_particles"):
        ParticleFilterConfig(n_particles=0)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        ParticleFilterConfig(aggregation="max")


def test_scorer_tokens_are_counted_per_scored_prefix():
    import dataclasses

    counted = dataclasses.replace(SETUP, count_scorer_tokens=lambda prompt, steps: 10 * len(steps))
    scorer = KeywordPRM()
    config = ParticleFilterConfig(n_particles=4, sampling=SamplingConfig(max_new_tokens=50), resample_temperature=1e-3)
    results = particle_filter.run(PROBLEMS, alternating_policy(), scorer, config, counted)
    for result in results:
        scored = [steps for call in scorer.calls for prompt, steps in call if prompt == result.prompt]
        assert result.meta["scorer_tokens"] == sum(10 * len(s) for s in scored) == 10 * (4 + 2 * 4 + 3 * 2)
