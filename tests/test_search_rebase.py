"""REBASE on a scripted policy: the budget split by hand, exact engine and scorer calls, seeds."""

from __future__ import annotations

import math

import pytest

from prm.engines.base import SamplingConfig
from prm.engines.scripted import ScriptedEngine
from prm.records import Problem
from prm.steps import StepFormat
from search import rebase
from search.candidates import SearchSetup
from search.rebase import RebaseConfig, allocate_expansions
from tests.test_search_beam import script
from tests.test_search_fakes import CountingEngine, KeywordPRM, extract_answer, grade

PROBLEMS = [
    Problem(id="p1", question="q1 gold=4", answer="4"),
    Problem(id="p2", question="q2 gold=9", answer="9"),
]
SETUP = SearchSetup(lambda p: f"Q:{p.question}|", extract_answer, grade, StepFormat())


def search(policy=script, **kwargs):
    engine, scorer = CountingEngine(ScriptedEngine(policy)), KeywordPRM()
    config = RebaseConfig(**{"n_candidates": 4, "sampling": SamplingConfig(max_new_tokens=50), **kwargs})
    return engine, scorer, rebase.run(PROBLEMS, engine, scorer, config, SETUP)


def test_allocation_is_a_softmax_of_rewards_rounded_to_the_budget():
    # softmax([ln 3, 0]) = (3/4, 1/4).
    assert allocate_expansions([math.log(3), 0.0], 4, 1.0) == [3, 1]
    # quotas 2.25, 0.75: floors 2, 0; the one left goes to the larger remainder.
    assert allocate_expansions([math.log(3), 0.0], 3, 1.0) == [2, 1]
    # equal rewards: 5 over 3 nodes is 2, 2, 1 (ties to the earlier node).
    assert allocate_expansions([0.5, 0.5, 0.5], 5, 0.1) == [2, 2, 1]
    # a low temperature gives the whole budget to the best node.
    assert allocate_expansions([0.9, 0.2], 4, 0.01) == [4, 0]
    assert allocate_expansions([], 4, 1.0) == [] and allocate_expansions([0.3], 0, 1.0) == [0]


def test_rounds_calls_and_budget_at_a_low_balance_temperature():
    engine, scorer, results = search(balance_temperature=0.1)
    # Round 0: the root of each problem, 4 ways. Then the 2 good nodes per problem get 2 each.
    assert [(len(prompts), s.n) for prompts, s in engine.calls] == [(2, 4), (4, 2), (4, 2)]
    assert engine.calls[1][0][:2] == ["Q:q1 gold=4|good step d0i0\n\n", "Q:q1 gold=4|good step d0i2\n\n"]
    assert all(s.stop == ("\n\n",) for _, s in engine.calls)
    assert len(scorer.calls) == 3
    scored = [item for call in scorer.calls for item in call]
    assert len(scored) == len(set(scored)) == 8 + 8 + 4  # two samples of one ending share a prefix
    for result, gold in zip(results, ["4", "9"]):
        assert result.meta["method"] == "rebase" and result.meta["rounds"] == 3
        assert result.meta["scored_prefixes"] == 4 + 4 + 2
        assert len(result.candidates) == 4  # the whole budget finished
        assert all(c.finished and c.is_correct and c.answer == gold for c in result.candidates)
        assert result.candidates[0].step_scores == (0.9, 0.9, 0.5)


def test_unequal_allocations_share_one_call_per_expansion_count():
    def one_good(prompt, index):
        head, rest = prompt.split("|", 1)
        if not rest:
            return ("good a" if index == 0 else f"bad b{index}") + "\n\nleftover"
        return "done, the answer is " + (head.split("gold=")[1] if "good" in rest else "0")

    # Rewards (0.9, 0.2, 0.2, 0.2) at temperature 0.5: quotas 2.30, 0.57, 0.57, 0.57 -> 2, 1, 1, 0.
    engine, _, results = search(one_good, balance_temperature=0.5)
    assert [(len(prompts), s.n) for prompts, s in engine.calls] == [(2, 4), (4, 1), (2, 2)]
    assert engine.calls[2][0] == ["Q:q1 gold=4|good a\n\n", "Q:q2 gold=9|good a\n\n"]
    for result in results:
        assert len(result.candidates) == 4
        assert sum(c.is_correct for c in result.candidates) == 2


def test_batched_and_one_problem_at_a_time_agree():
    batched_engine, _, batched = search(balance_temperature=1.0)
    single_engine, _, single = search(balance_temperature=1.0, problem_batch_size=1)
    assert batched == single
    assert len(single_engine.calls) == 2 * len(batched_engine.calls)
    assert search(balance_temperature=1.0)[2] == batched


def test_budgets_and_validation():
    engine, _, results = search(max_steps=2)
    assert len(engine.calls) == 2 and all(not c.finished for r in results for c in r.candidates)
    engine, _, _ = search(max_tokens=1)
    assert len(engine.calls) == 1
    with pytest.raises(ValueError, match="balance_temperature"):
        RebaseConfig(balance_temperature=-1.0)
    with pytest.raises(ValueError, match="n_candidates"):
        RebaseConfig(n_candidates=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rebase", "particle_filter"])
def test_transformers_engine_batched_equals_one_problem_at_a_time(method):
    from prm.engines.hf import TransformersEngine
    from prm.testing import tiny_causal_lm, tiny_tokenizer
    from search import particle_filter
    from search.particle_filter import ParticleFilterConfig
    from tests.test_search_beam import LengthPRM

    tokenizer = tiny_tokenizer()
    engine = TransformersEngine(tiny_causal_lm(tokenizer), tokenizer)
    module, config_type, width = (
        (rebase, RebaseConfig, {"n_candidates": 4}) if method == "rebase"
        else (particle_filter, ParticleFilterConfig, {"n_particles": 4})
    )
    runs = []
    for batch in (None, 1):
        config = config_type(problem_batch_size=batch, max_steps=2, sampling=SamplingConfig(max_new_tokens=6, temperature=1.0), **width)
        runs.append(module.run(PROBLEMS, engine, LengthPRM(), config, SETUP))
    assert runs[0] == runs[1]
    assert all(r.generated_tokens > 0 and r.candidates for r in runs[0])
    # copies of one particle (or one node's samples) continue differently under their own seeds
    assert len({c.steps for c in runs[0][0].candidates}) > 1


def test_scorer_tokens_are_counted_per_scored_prefix():
    import dataclasses

    counted = dataclasses.replace(SETUP, count_scorer_tokens=lambda prompt, steps: 10 * len(steps))
    scorer = KeywordPRM()
    config = RebaseConfig(n_candidates=4, sampling=SamplingConfig(max_new_tokens=50), balance_temperature=0.1)
    results = rebase.run(PROBLEMS, CountingEngine(ScriptedEngine(script)), scorer, config, counted)
    for result in results:
        assert result.meta["scorer_tokens"] == 10 * (4 + 2 * 4 + 3 * 2)
