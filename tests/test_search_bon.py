"""Best-of-n: sampling, scoring, grouping and every selection rule on a scripted policy."""

from __future__ import annotations

import dataclasses

import pytest

from prm.engines.scripted import ScriptedEngine
from prm.records import Problem
from prm.steps import StepFormat
from search.best_of_n import (
    BestOfNConfig,
    group_candidates,
    sample_candidates,
    score_candidates,
    scorer_passes,
    select,
    selection_accuracy,
)
from search.candidates import candidate_score, read_jsonl, write_jsonl
from search.voting import AnswerGrouper
from tests.test_search_fakes import CountingEngine, KeywordORM, KeywordPRM, extract_answer, grade

FORMAT = StepFormat()

SCRIPT = {
    # one good solution (answer 4), three wrong ones that agree on 5
    "P: two plus two": [
        "bad start\n\nso the answer is 5",
        "good start\n\ngood so the answer is 4",
        "bad again\n\nthe answer is 5",
        "hmm\n\nbad so the answer is 5",
    ],
    "P: one plus one": ["good\n\ngood the answer is 2", "no answer here", "the answer is 2", "bad the answer is 3"],
}
PROBLEMS = [
    Problem(id="a", question="two plus two", answer="4"),
    Problem(id="b", question="one plus one", answer="2"),
]


def run(n=4, **kwargs):
    engine = CountingEngine(ScriptedEngine(SCRIPT))
    config = BestOfNConfig(n=n, problem_batch_size=8, **kwargs)
    results = sample_candidates(engine, PROBLEMS, config, lambda p: "P: " + p.question, extract_answer, grade, FORMAT)
    results = score_candidates(results, prm=KeywordPRM(), orm=KeywordORM(), batch_size=3)
    return engine, group_candidates(results, AnswerGrouper(grade))


def test_one_engine_call_for_all_problems_with_token_accounting():
    engine, results = run()
    assert len(engine.calls) == 1 and len(engine.calls[0][0]) == 2
    first = results[0]
    assert [c.answer for c in first.candidates] == ["5", "4", "5", "5"]
    assert [c.is_correct for c in first.candidates] == [False, True, False, False]
    assert first.candidates[0].steps == ("bad start", "so the answer is 5")
    assert first.generated_tokens == sum(c.num_tokens for c in first.candidates) > 0
    assert results[1].candidates[1].answer is None and results[1].candidates[1].is_correct is False


def test_scores_and_aggregations():
    _, results = run()
    candidate = results[0].candidates[0]  # steps: bad (0.2), neutral (0.5)
    assert candidate.step_scores == (0.2, 0.5)
    assert candidate_score(candidate, "prm:min") == 0.2
    assert candidate_score(candidate, "prm:last") == 0.5
    assert candidate_score(candidate, "prm:prod") == pytest.approx(0.1)
    assert candidate_score(candidate, "prm:mean") == pytest.approx(0.35)
    assert candidate_score(candidate, "orm") == 0.2
    with pytest.raises(ValueError, match="unknown score key 'prm:max'"):
        candidate_score(candidate, "prm:max")


def test_one_model_with_both_heads_is_read_once_per_solution():
    from tests.test_search_fakes import KeywordORM

    class Joint(KeywordPRM, KeywordORM):
        def __init__(self):
            super().__init__()
            self.joint_calls = 0

        def score_steps_and_outcomes(self, prompts, steps):
            self.joint_calls += 1
            return list(zip(KeywordPRM.score_steps(self, prompts, steps), KeywordORM.score_outcomes(self, prompts, steps)))

        def score_steps(self, prompts, steps):
            raise AssertionError("a separate step pass")

    engine = ScriptedEngine(SCRIPT)
    sampled = sample_candidates(engine, PROBLEMS, BestOfNConfig(n=4), lambda p: "P: " + p.question, extract_answer, grade, FORMAT)
    joint = Joint()
    together = score_candidates(sampled, prm=joint, orm=joint, batch_size=3)
    apart = score_candidates(sampled, prm=KeywordPRM(), orm=KeywordORM(), batch_size=3)
    assert together == apart and joint.joint_calls == 3  # 7 solutions with steps, batches of 3
    assert scorer_passes(joint, joint) == [joint]  # what prm search counts scorer tokens over
    prm, orm, both = KeywordPRM(), KeywordORM(), KeywordPRM()
    assert scorer_passes(prm, orm) == [prm, orm] and scorer_passes(both, both) == [both, both]
    assert scorer_passes(None, orm) == [orm] and scorer_passes(None, None) == []


def test_selection_rules():
    _, results = run()
    first, second = results
    assert select(first, "majority") == 0  # "5" three times: wrong
    assert select(first, "rm", "prm:min") == 1  # the good solution
    assert select(first, "weighted", "prm:min") == 1  # 0.9 > 0.2 + 0.2 + 0.2
    assert select(first, "weighted", "prm:last") == 0  # 0.5 + 0.5 + 0.2 > 0.9
    assert select(first, "pass") == 1
    assert select(second, "majority") == 0  # "2" twice
    assert selection_accuracy(results, "majority") == 0.5
    assert selection_accuracy(results, "rm", "prm:min") == 1.0
    assert selection_accuracy(results, "pass") == 1.0
    with pytest.raises(ValueError, match="unknown selection 'best'"):
        select(first, "best")
    with pytest.raises(ValueError, match="needs a score_key"):
        select(first, "rm")


def test_candidate_grades_are_verdicts_stored_as_is_correct():
    from prm.records import Verdict
    from search.candidates import Candidate, make_candidate

    fmt = StepFormat()
    made = {gold: make_candidate(text, 3, gold, extract_answer, grade, fmt) for gold, text in
            [("4", "so the answer is 4"), ("5", "so the answer is 4"), (None, "so the answer is 4")]}
    assert [c.verdict for c in made.values()] == [Verdict.CORRECT, Verdict.INCORRECT, Verdict.UNGRADABLE]
    assert [c.is_correct for c in made.values()] == [True, False, None]  # the on-disk field as before
    assert all(Candidate.from_dict(dataclasses.asdict(c)).verdict is c.verdict for c in made.values())


def test_results_round_trip_through_jsonl(tmp_path):
    _, results = run()
    path = tmp_path / "results.jsonl"
    assert write_jsonl(results, path) == 2
    assert read_jsonl(path) == results
    path.write_text('{"problem_id": 1}\n')
    with pytest.raises(ValueError, match="results.jsonl, line 1: .*no field 'prompt'"):
        read_jsonl(path)


def test_prm_returning_wrong_count_raises():
    class Short:
        def score_steps(self, prompts, steps):
            return [[0.5] for _ in steps]

    engine = ScriptedEngine(SCRIPT)
    results = sample_candidates(engine, PROBLEMS[:1], BestOfNConfig(n=2), lambda p: "P: " + p.question, extract_answer, grade, FORMAT)
    with pytest.raises(ValueError, match="returned 1 scores for 2 steps"):
        score_candidates(results, prm=Short())


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="BestOfNConfig.n must"):
        BestOfNConfig(n=0)
