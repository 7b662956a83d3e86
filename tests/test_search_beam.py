"""Step-level beam search and DVTS on a scripted policy whose good branches are known."""

from __future__ import annotations

import pytest

from prm.engines.base import SamplingConfig
from prm.engines.scripted import ScriptedEngine
from prm.records import Problem
from prm.steps import StepFormat
from search import beam, dvts
from search.beam import BeamSearchConfig
from search.candidates import SearchSetup
from tests.test_search_fakes import CountingEngine, KeywordPRM, extract_answer, grade

FORMAT = StepFormat()

PROBLEMS = [
    Problem(id="p1", question="q1 gold=4", answer="4"),
    Problem(id="p2", question="q2 gold=9", answer="9"),
]


def prompt_for(problem: Problem) -> str:
    return f"Q:{problem.question}|"


def script(prompt: str, index: int) -> str:
    """Depth 0 and 1: even samples are good steps, odd ones bad; depth 2 ends the solution,
    with the gold answer only when every earlier step was good."""
    head, rest = prompt.split("|", 1)
    steps = [s for s in rest.split("\n\n") if s]
    if len(steps) < 2:
        kind = "good" if index % 2 == 0 else "bad"
        return f"{kind} step d{len(steps)}i{index}\n\nleftover text"
    gold = head.split("gold=")[1]
    if all("good" in s for s in steps):
        return f"done, the answer is {gold}"
    return "done, the answer is 0"


SETUP = SearchSetup(prompt_for, extract_answer, grade, FORMAT)


def search(method=beam, **kwargs):
    engine = CountingEngine(ScriptedEngine(script))
    scorer = KeywordPRM()
    config = BeamSearchConfig(**{"beam_width": 2, "n_candidates": 4, "sampling": SamplingConfig(max_new_tokens=50), **kwargs})
    results = method.run(PROBLEMS, engine, scorer, config, SETUP)
    return engine, scorer, results


def test_beam_search_keeps_the_good_branches_and_batches_across_problems():
    engine, scorer, results = search()
    # 3 rounds, each ONE generate call holding both problems' live paths.
    assert len(engine.calls) == 3
    assert [len(prompts) for prompts, _ in engine.calls] == [2, 4, 4]
    assert [s.n for _, s in engine.calls] == [4, 2, 2]
    assert all(s.stop == ("\n\n",) for _, s in engine.calls)
    assert engine.calls[1][0][0] == "Q:q1 gold=4|good step d0i0\n\n"
    # ONE scorer call per round, and every prefix scored exactly once.
    assert len(scorer.calls) == 3
    scored = [item for call in scorer.calls for item in call]
    assert len(scored) == len(set(scored)) == 4 + 8 + 8 - 0
    for result, gold in zip(results, ["4", "9"]):
        assert len(result.candidates) == 4
        best = result.candidates[0]
        assert best.finished and best.answer == gold and best.is_correct
        assert best.steps == ("good step d0i0", "good step d1i0", f"done, the answer is {gold}")
        assert best.step_scores == (0.9, 0.9, 0.5)
        assert result.meta["rounds"] == 3 and result.meta["method"] == "beam"
        assert result.generated_tokens > best.num_tokens  # pruned branches count too


def test_batched_and_one_problem_at_a_time_agree():
    batched_engine, _, batched = search()
    single_engine, _, single = search(problem_batch_size=1)
    assert batched == single
    assert len(batched_engine.calls) == 3 and len(single_engine.calls) == 6


def test_diverse_verifier_tree_search_keeps_one_path_per_subtree():
    engine, _, results = search(dvts)
    # Subtrees {0,1} and {2,3}: each keeps its best path and expands it N/M = 2 ways.
    assert [len(prompts) for prompts, _ in engine.calls] == [2, 4, 4]
    assert engine.calls[1][0][:2] == ["Q:q1 gold=4|good step d0i0\n\n", "Q:q1 gold=4|good step d0i2\n\n"]
    for result in results:
        assert result.meta["method"] == "dvts"
        assert result.candidates[0].is_correct
        assert {c.steps[0] for c in result.candidates} == {"good step d0i0", "good step d0i2"}


def test_step_budget_returns_unfinished_paths():
    _, _, results = search(max_steps=2)
    for result in results:
        assert len(result.candidates) == 2
        assert all(not c.finished and c.answer is None and c.is_correct is False for c in result.candidates)


def test_token_budget_stops_after_the_round_that_spends_it():
    engine, _, results = search(max_tokens=1)
    assert len(engine.calls) == 1
    assert all(r.meta["rounds"] == 1 for r in results)


def test_config_validation():
    with pytest.raises(ValueError, match="multiple of beam_width"):
        BeamSearchConfig(beam_width=3, n_candidates=4)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        BeamSearchConfig(aggregation="max")
    with pytest.raises(ValueError, match="max_tokens"):
        BeamSearchConfig(max_tokens=0)


class LengthPRM:
    """A cheap deterministic scorer: shorter steps score higher."""

    def score_steps(self, prompts, steps):
        return [[1.0 / (1.0 + len(step)) for step in solution] for solution in steps]


@pytest.mark.slow
def test_transformers_engine_batched_equals_one_problem_at_a_time():
    pytest.importorskip("prm.engines.hf")
    from prm.engines.hf import TransformersEngine
    from prm.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    engine = TransformersEngine(tiny_causal_lm(tokenizer), tokenizer)
    common = dict(beam_width=2, n_candidates=4, max_steps=2, sampling=SamplingConfig(max_new_tokens=6, temperature=1.0))
    runs = []
    for batch in (None, 1):
        config = BeamSearchConfig(problem_batch_size=batch, **common)
        runs.append(beam.run(PROBLEMS, engine, LengthPRM(), config, SETUP))
    assert runs[0] == runs[1]
    assert all(r.generated_tokens > 0 and r.candidates for r in runs[0])


def test_a_wrong_solution_that_finishes_early_does_not_end_the_search():
    def early(prompt, index):
        head, rest = prompt.split("|", 1)
        if not rest:  # first step: sample 0 jumps to a wrong final answer
            return "bad: the answer is 0" if index == 0 else f"good step i{index}\n\nmore"
        return "good: the answer is " + head.split("gold=")[1]

    config = BeamSearchConfig(beam_width=1, n_candidates=4, sampling=SamplingConfig(max_new_tokens=50))
    results = beam.run(PROBLEMS, ScriptedEngine(early), KeywordPRM(), config, SETUP)
    for result in results:
        assert result.meta["rounds"] == 2
        assert result.candidates[0].is_correct  # the open, better-scored path went on and won
        assert any(c.answer == "0" for c in result.candidates)  # the early finisher is kept


def test_duplicate_paths_take_one_beam_slot():
    def same(prompt, index):
        depth = len([s for s in prompt.split("|", 1)[1].split("\n\n") if s])
        return "good same step\n\nmore" if depth < 2 else "the answer is 4"

    engine = CountingEngine(ScriptedEngine(same))
    config = BeamSearchConfig(beam_width=2, n_candidates=4, sampling=SamplingConfig(max_new_tokens=50))
    beam.run(PROBLEMS[:1], engine, KeywordPRM(), config, SETUP)
    assert [len(prompts) for prompts, _ in engine.calls] == [1, 1, 1]
