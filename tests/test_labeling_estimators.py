"""Monte Carlo estimators with scripted rollouts: exact labels, counts and costs by hand."""

from __future__ import annotations

import re

import pytest

from labeling.estimators import EstimatorConfig, RolloutRequest, estimate_steps
from labeling.rollouts import LabelTask, RolloutConfig, label_steps, outcome_of, rollout_prompt
from prm.engines.base import Completion, SamplingConfig
from prm.engines.scripted import ScriptedEngine
from prm.records import Verdict
from prm.steps import StepFormat

FORMAT = StepFormat()
STEPS = tuple(f"step {i}" for i in range(8))
POLICY = "Q: what?\n\n"


def grade(gold, text):
    found = re.findall(r"answer is (\d+)", text)
    return None if not found else found[-1] == gold


def prefix_length(prompt: str) -> int:
    """How many steps the rollout prompt holds."""
    return len(re.findall(r"step \d+", prompt))


def scripted(first_error: int, correct_every: int = 1, long_after: int | None = None):
    """Rollouts reach answer 7 only from prefixes that end before `first_error`; there, only
    every `correct_every`-th rollout does. From prefixes of `long_after` steps on, rollouts
    run too long (length limit)."""

    def script(prompt: str, j: int) -> str:
        steps = prefix_length(prompt)
        if long_after is not None and steps >= long_after:
            return " ".join(["word"] * 50)
        good = steps <= first_error and j % correct_every == 0
        return f"more work\n\nThe answer is {7 if good else 8}"

    return ScriptedEngine(script)


def run(engine, config, steps=STEPS, final="incorrect", max_new_tokens=20):
    task = LabelTask("k", POLICY, steps, "7", final)
    (result,) = label_steps([task], engine, grade, config, RolloutConfig(SamplingConfig(max_new_tokens=max_new_tokens, seed=None)), FORMAT)
    return result


def test_rollout_prompt_is_policy_prompt_steps_and_delimiter():
    assert rollout_prompt(POLICY, STEPS, 1, FORMAT) == "Q: what?\n\nstep 0\n\nstep 1\n\n"


def test_math_shepherd_hard_labels_counts_and_tokens():
    engine = scripted(first_error=3)
    result = run(engine, EstimatorConfig("math_shepherd", rollouts=4))
    assert result.estimate.labels == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert result.estimate.mc_values == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert result.estimate.rollouts == [4] * 7 + [0]
    assert result.estimate.first_error == 3
    assert result.rollouts_drawn == 28
    assert result.generated_tokens == engine.generated_tokens == 28 * 5
    assert len(engine.calls) == 7 and all(n == 4 for _, n in engine.calls)


def test_math_shepherd_soft_labels_are_fractions():
    engine = scripted(first_error=2, correct_every=4)
    result = run(engine, EstimatorConfig("math_shepherd", rollouts=4, label_type="soft"), steps=STEPS[:3])
    assert result.estimate.labels == [0.25, 0.25, 0.0]
    assert result.estimate.mc_values == [0.25, 0.25, 0.0]


def test_math_shepherd_early_stop_stops_at_first_success():
    engine = scripted(first_error=2, correct_every=3)
    config = EstimatorConfig("math_shepherd", rollouts=6, early_stop=True, round_size=2)
    result = run(engine, config, steps=STEPS[:4])
    # Prefixes 0 and 1: round 0 draws j = 0, 1 and j = 0 is correct -> stop after 2.
    # Prefix 2: never correct -> all 6 drawn in rounds of 2. The last step costs nothing.
    assert result.estimate.rollouts == [2, 2, 6, 0]
    assert result.estimate.labels == [1.0, 1.0, 0.0, 0.0]
    assert result.rollouts_drawn == 10


def test_binary_search_finds_first_error_in_log_steps():
    engine = scripted(first_error=5)
    config = EstimatorConfig("binary_search", rollouts=4)
    result = run(engine, config)
    assert result.estimate.first_error == 5
    assert result.estimate.labels == [1.0] * 5 + [0.0] * 3
    estimated = [i for i, v in enumerate(result.estimate.mc_values[:-1]) if v is not None]
    assert estimated == [3, 4, 5]  # midpoints of [0, 7] (good), [4, 7] (bad), [4, 5] (good)
    assert len(engine.calls) == 3  # log2(8) estimates, not 7


def test_binary_search_with_early_stop_and_correct_final():
    engine = scripted(first_error=5)
    config = EstimatorConfig("binary_search", rollouts=4, early_stop=True, round_size=1)
    result = run(engine, config)
    assert result.estimate.first_error == 5
    assert result.estimate.rollouts[3] == 1  # a good midpoint costs one rollout
    assert result.estimate.rollouts[4] == 1
    assert result.estimate.rollouts[5] == 4  # a bad one all four
    all_good = run(scripted(first_error=99), config, final="correct")
    assert all_good.estimate.labels == [1.0] * 8 and all_good.rollouts_drawn == 0


def test_excluded_rollouts_are_counted_apart():
    engine = scripted(first_error=2, long_after=2)
    result = run(engine, EstimatorConfig("math_shepherd", rollouts=2), steps=STEPS[:4], max_new_tokens=20)
    assert result.estimate.rollouts == [2, 0, 0, 0]
    assert result.estimate.excluded == [0, 2, 2, 0]
    assert result.estimate.labels == [1.0, None, None, 0.0]
    assert result.estimate.mc_values[1] is None


def test_ungradable_final_leaves_last_label_empty():
    engine = scripted(first_error=99)
    result = run(engine, EstimatorConfig("math_shepherd", rollouts=1), steps=STEPS[:2], final=Verdict.UNGRADABLE)
    assert result.estimate.labels == [1.0, None]


def test_estimator_coroutine_protocol():
    C, I, U = Verdict.CORRECT, Verdict.INCORRECT, Verdict.UNGRADABLE
    coroutine = estimate_steps(3, I, EstimatorConfig("math_shepherd", rollouts=2))
    requests = next(coroutine)
    assert requests == [RolloutRequest(0, 2, 0), RolloutRequest(1, 2, 0)]
    with pytest.raises(StopIteration) as stop:
        coroutine.send([[C, I], [U, I]])
    estimate = stop.value.value
    assert estimate.labels == [1.0, 0.0, 0.0] and estimate.mc_values == [0.5, 0.0, 0.0]
    assert estimate.excluded == [0, 1, 0]


def test_batched_tasks_equal_one_by_one():
    from labeling.simulated import NoisySolverEngine, grade_answer_statement
    from prm.data.synthetic import SyntheticConfig, make_problems

    problems = make_problems(4, SyntheticConfig(num_steps=4))
    tasks = [
        LabelTask(p.id, p.question + "\n\n", tuple(FORMAT.split(p.reference_solution)), p.answer, "correct")
        for p in problems
    ]
    config = EstimatorConfig("math_shepherd", rollouts=3, early_stop=True, round_size=1)
    together = label_steps(tasks, NoisySolverEngine(problems, 0.3), grade_answer_statement, config, RolloutConfig(), FORMAT)
    alone = [label_steps([t], NoisySolverEngine(problems, 0.3), grade_answer_statement, config, RolloutConfig(), FORMAT)[0] for t in tasks]
    assert [r.estimate for r in together] == [r.estimate for r in alone]
    assert [r.generated_tokens for r in together] == [r.generated_tokens for r in alone]


@pytest.mark.parametrize(
    "value, expected",
    [(True, Verdict.CORRECT), (False, Verdict.INCORRECT), (None, Verdict.UNGRADABLE), ("ungradable", Verdict.UNGRADABLE)],
)
def test_outcome_of(value, expected):
    assert outcome_of(value) is expected


def test_estimators_take_verdicts_only():
    # A bare string was the old spelling ("excluded"); the coroutine now names the type it wants.
    with pytest.raises(ValueError, match="final_outcome must be a Verdict"):
        next(estimate_steps(2, "excluded", EstimatorConfig("math_shepherd", rollouts=1)))
    coroutine = estimate_steps(2, Verdict.INCORRECT, EstimatorConfig("math_shepherd", rollouts=1))
    next(coroutine)
    with pytest.raises(ValueError, match="rollout outcome must be a Verdict"):
        coroutine.send([[True]])


def test_verdict_as_bool_is_the_on_disk_correct_field():
    assert [v.as_bool() for v in Verdict] == [True, False, None]
    assert all(Verdict.of(v.as_bool()) is v for v in Verdict)


def test_outcome_of_grade_result():
    from prm.grading import grade_solution

    assert outcome_of(grade_solution("5", "so the answer is \\boxed{5}")) is Verdict.CORRECT
    with pytest.raises(ValueError, match="cannot read a verdict from 'maybe'"):
        outcome_of("maybe")


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(method="omega"), "method"),
        (dict(rollouts=0), "rollouts"),
        (dict(label_type="fuzzy"), "label_type"),
        (dict(method="binary_search", label_type="soft"), "soft"),
    ],
)
def test_bad_estimator_config_raises(options, match):
    with pytest.raises(ValueError, match=match):
        EstimatorConfig(**options)


def test_scripted_completion_length_finish():
    engine = ScriptedEngine(lambda p, j: "a b c d")
    (completion,) = engine.generate(["p"], SamplingConfig(max_new_tokens=2))[0]
    assert completion == Completion("a b", 2, "length", None)


def test_binary_search_min_correct_ignores_a_lucky_rollout():
    # Step 1 is the first error; from the bad prefix ending at step 2 (the search's first
    # midpoint) one rollout in four recovers by luck.
    def script(prompt, j):
        steps = prefix_length(prompt)
        good = steps <= 1 or (steps == 3 and j == 0)
        return f"The answer is {7 if good else 8}"

    plain = run(ScriptedEngine(script), EstimatorConfig("binary_search", rollouts=4), steps=STEPS[:6])
    assert plain.estimate.first_error == 3  # fooled by the lucky rollout at step 2
    guarded = run(ScriptedEngine(script), EstimatorConfig("binary_search", rollouts=4, min_correct=2), steps=STEPS[:6])
    assert guarded.estimate.first_error == 1
    assert guarded.estimate.labels == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_binary_search_verify_correct_searches_right_answers():
    engine = scripted(first_error=2)
    config = EstimatorConfig("binary_search", rollouts=2, verify_correct=True)
    result = run(engine, config, steps=STEPS[:5], final="correct")
    assert result.estimate.first_error == 2
    assert result.estimate.labels == [1.0, 1.0, 0.0, 0.0, 0.0]
    clean = run(scripted(first_error=99), config, steps=STEPS[:5], final="correct")
    assert clean.estimate.first_error == -1 and clean.estimate.labels == [1.0] * 5


def _run_coroutine(coroutine, answer):
    """Drive an estimator coroutine, answering each request with answer(request)."""
    requests = next(coroutine)
    while True:
        try:
            requests = coroutine.send([answer(r) for r in requests])
        except StopIteration as stop:
            return stop.value


def test_binary_search_midpoint_with_every_rollout_excluded_is_unlabelled_not_bad():
    U = Verdict.UNGRADABLE
    config = EstimatorConfig("binary_search", rollouts=2)
    estimate = _run_coroutine(estimate_steps(4, Verdict.INCORRECT, config), lambda r: [U] * r.n)
    # The first midpoint (step 1) had no graded rollout: nothing is known before the last step,
    # whose label is its own grade.
    assert estimate.mc_values == [None, None, None, 0.0]
    assert estimate.labels == [None, None, None, 0.0]
    assert estimate.excluded == [0, 2, 0, 0]
    assert estimate.first_error == 3


def test_binary_search_stops_undecided_after_a_good_midpoint():
    C, U = Verdict.CORRECT, Verdict.UNGRADABLE
    config = EstimatorConfig("binary_search", rollouts=1)
    # 8 steps, wrong final answer: midpoint 3 succeeds, midpoint 5 has only excluded rollouts.
    estimate = _run_coroutine(estimate_steps(8, Verdict.INCORRECT, config),
                              lambda r: [C] * r.n if r.step == 3 else [U] * r.n)
    assert estimate.labels == [1.0] * 4 + [None] * 3 + [0.0]
    assert estimate.mc_values[3] == 1.0 and estimate.mc_values[5] is None


def test_summary_names_accuracy_over_all_and_over_graded_solutions():
    from labeling.runner import summarize

    rows = [{"completions": ["a", "b"], "labels": [1.0, None], "correct": True}]
    rows += [{"completions": ["a"], "labels": [None], "correct": None}] * 6
    rows += [{"completions": ["a"], "labels": [0.0], "correct": False}]
    summary = summarize(rows)
    assert summary["accuracy_all_solutions"] == 1 / 8
    assert summary["accuracy_graded_solutions"] == 1 / 2
    assert summary["graded_solutions"] == 2 and summary["ungradable_solutions"] == 6
    assert summary["steps_labelled"] == 2 and summary["steps_unlabelled"] == 7
    assert "solution_accuracy" not in summary


def test_training_rows_skip_unlabelled_steps():
    from prm.records import StepwiseSolution
    from prm.testing import tiny_tokenizer
    from prm.training.collate import IGNORE, encode_solution

    tokenizer = tiny_tokenizer()
    fmt = StepFormat(tag="\n", tag_is_special=False)
    row = encode_solution(StepwiseSolution("q", ("a", "b", "c"), (1.0, None, 0.0)), tokenizer, fmt)
    assert row["step_labels"] == [1.0, IGNORE, 0.0]
