"""The synthetic arithmetic task: seeded problems, exact step truth, corruption."""

from __future__ import annotations

import random
import time

import pytest

from prm.data.synthetic import SyntheticConfig, corrupt, first_error, make_problems, step_truth
from prm.records import Problem
from prm.steps import StepFormat


def _problem(start_value: int, operations: list[tuple[str, int]]) -> Problem:
    """A hand-made problem in the generator's meta format, so expectations are computed by hand."""
    values = [start_value]
    for op, operand in operations:
        values.append({"+": values[-1] + operand, "-": values[-1] - operand,
                       "*": values[-1] * operand, "/": values[-1] // operand}[op])
    return Problem(
        id="hand-made",
        question="hand-made",
        answer=str(values[-1]),
        meta={"start_value": start_value, "operations": [list(o) for o in operations], "values": values},
    )


# 3 + 4 = 7, 7 - 2 = 5, 5 * 3 = 15.
THREE = _problem(3, [("+", 4), ("-", 2), ("*", 3)])
# 3 + 4 = 7.
ONE = _problem(3, [("+", 4)])


# ------------------------------------------------------------------------------- generation
def test_problem_shape_and_reference_solution():
    [problem] = make_problems(1, SyntheticConfig(num_steps=2, seed=5), start=3)
    assert problem.id == "synthetic-5-3"
    assert problem.source == "synthetic"
    steps = StepFormat().split(problem.reference_solution)
    assert len(steps) == 3
    assert steps[-1] == f"The answer is {problem.answer}."
    meta = problem.meta
    assert meta["values"][0] == meta["start_value"]
    assert str(meta["values"][-1]) == problem.answer
    for (op, operand), before, after, step in zip(meta["operations"], meta["values"], meta["values"][1:], steps):
        assert step == f"{before} {op} {operand} = {after}."
    assert problem.question.endswith("have now?")


def test_deterministic_and_independent_of_n():
    config = SyntheticConfig(seed=7)
    first = make_problems(10, config)
    assert first == make_problems(10, config)
    assert [p.meta for p in first] == [p.meta for p in make_problems(10, config)]
    assert make_problems(4, config, start=6) == first[6:]
    other = make_problems(10, SyntheticConfig(seed=8))
    assert [p.question for p in other] != [p.question for p in first]


@pytest.mark.parametrize(
    "config",
    [
        SyntheticConfig(),
        SyntheticConfig(num_steps=(2, 5), max_operand=20, operations=("+", "-", "*", "/")),
        SyntheticConfig(num_steps=4, operations=("-",)),
        SyntheticConfig(num_steps=1, operations=("/",), min_operand=1, max_operand=12),
        SyntheticConfig(num_steps=3, min_operand=0, max_operand=3),
    ],
)
def test_parameters_are_respected_and_values_stay_whole(config):
    low, high = config.num_steps
    for problem in make_problems(60, config):
        operations = problem.meta["operations"]
        values = problem.meta["values"]
        assert low <= len(operations) <= high
        assert config.min_operand <= problem.meta["start_value"] <= config.max_operand
        for op, operand in operations:
            assert op in config.operations
            assert config.min_operand <= operand <= config.max_operand
        assert all(isinstance(v, int) and v >= 0 for v in values)
        assert all(step_truth(problem, StepFormat().split(problem.reference_solution)))


def test_operand_range_and_num_steps_vary():
    problems = make_problems(200, SyntheticConfig(num_steps=(1, 3)))
    assert {len(p.meta["operations"]) for p in problems} == {1, 2, 3}
    assert {op for p in problems for op, _ in p.meta["operations"]} == {"+", "-", "*"}
    assert max(p.meta["start_value"] for p in problems) == 9


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": (3, 2)}, "num_steps"),
        ({"num_steps": (1, 21)}, "num_steps"),
        ({"num_steps": 1.5}, "num_steps"),
        ({"max_operand": -1}, "max_operand"),
        ({"min_operand": 5, "max_operand": 4}, "min_operand"),
        ({"operations": ("+", "^")}, "operations"),
        ({"operations": ()}, "operations"),
        ({"operations": ("+", "+")}, "operations"),
        ({"operations": "+-"}, "operations"),
        ({"seed": "zero"}, "seed"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SyntheticConfig(**kwargs)


def test_impossible_config_raises():
    with pytest.raises(ValueError, match="no valid operation sequence"):
        make_problems(1, SyntheticConfig(num_steps=2, operations=("-",), min_operand=5, max_operand=7))


def test_make_problems_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        make_problems(-1)
    with pytest.raises(ValueError, match="config must be"):
        make_problems(1, {"seed": 0})


# ------------------------------------------------------------------------------------ truth
CORRECT = ["3 + 4 = 7.", "7 - 2 = 5.", "5 * 3 = 15.", "The answer is 15."]


@pytest.mark.parametrize(
    "steps, expected",
    [
        (CORRECT, [True, True, True, True]),
        # Arithmetic error at step 1; everything after the first error is False.
        (["3 + 4 = 7.", "7 - 2 = 6.", "6 * 3 = 18.", "The answer is 18."], [True, False, False, False]),
        # Right arithmetic on the wrong operand.
        (["3 + 4 = 7.", "7 - 3 = 4.", "4 * 3 = 12.", "The answer is 12."], [True, False, False, False]),
        # Right arithmetic but the wrong operation for that point of the problem.
        (["3 + 4 = 7.", "7 * 3 = 21."], [True, False]),
        # A wrong final answer after correct work.
        (CORRECT[:3] + ["The answer is 14."], [True, True, True, False]),
        # Commutative operations may be swapped; "-" may not.
        (["4 + 3 = 7.", "7 - 2 = 5.", "3 * 5 = 15.", "The answer is 15."], [True, True, True, True]),
        (["3 + 4 = 7.", "2 - 7 = -5."], [True, False]),
        # No spaces, other operator glyphs, a dollar sign, decimals equal to whole numbers.
        (["3+4=7", "7 − 2 = 5", "5 × 3 = $15", "Answer: 15.0"], [True, True, True, True]),
        (["3 + 4 = 7", "7 - 2 = 5", "5 x 3 = 15", "\\boxed{15}"], [True, True, True, True]),
        # Two operations in one step, and a chain in one claim (usual precedence).
        (["3 + 4 = 7 and 7 - 2 = 5.", "5 * 3 = 15.", "The answer is 15."], [True, True, True]),
        (["3 + 4 - 2 = 5.", "5 * 3 = 15.", "The answer is 15."], [True, True, True]),
        # A chain whose usual-precedence value is not the sequential one is wrong as written.
        (["3 + 4 - 2 * 3 = 15."], [False]),
        # Steps that claim nothing checkable are correct.
        (["Ann has 3 apples.", "Let's add.", "3 + 4 = 7.", "Then subtract."], [True, True, True, True]),
        # A restatement of an accepted equation is correct and moves nothing.
        (["3 + 4 = 7.", "So 3 + 4 = 7.", "7 - 2 = 5."], [True, True, True]),
        # Skipping an operation is wrong even with right arithmetic.
        (["3 + 4 = 7.", "5 * 3 = 15."], [True, False]),
        # Extra operations after the last one are wrong.
        (CORRECT[:3] + ["15 + 1 = 16."], [True, True, True, False]),
        # The right final answer without shown work is right (mental arithmetic).
        (["The answer is 15."], [True]),
        (["The answer is 7."], [False]),
        # Claims with "=" that cannot be verified are errors.
        (["(3 + 4) = 7."], [False]),
        # A named quantity states a value: right when the correct computation reaches it next.
        (["x = 7."], [True]),
        (["total = 9."], [False]),
        (["apples = 3 + 4 = 7.", "7 - 2 = 5.", "5 \\times 3 = 15.", "The answer is 15."], [True, True, True, True]),
        (["apples = 3 + 4 = 8."], [False]),
        # LaTeX operators and math delimiters.
        (["\\(3 + 4 = 7\\)", "7 - 2 = 5", "5 \\cdot 3 = 15", "\\boxed{15}"], [True, True, True, True]),
        # A computation in words is judged in its own step, not one step late.
        (["Ann gets 4 more, so she has 8.", "8 - 2 = 6."], [False, False]),
        (["Ann gets 4 more, so she has 7.", "She gives away 2 and has 5 left.", "5 * 3 = 15."], [True, True, True]),
        # "has 3 more" names an operand, not a value.
        (["Ann has 3 apples and gets 4 more.", "3 + 4 = 7."], [True, True]),
        (["3 + 4 = 7 = 7."], [False]),
        (["3 + = 7."], [False]),
        (["3 + 4 = seven."], [False]),
        # A "- " bullet is not a sign; "-3" touching the digit is.
        (["- 3 + 4 = 7."], [True]),
        (["-3 + 4 = 1."], [False]),
        # Division by zero is wrong, not a crash.
        (["3 / 0 = 7."], [False]),
        # Ruling lines carry no number and claim nothing.
        (["===", "3 + 4 = 7."], [True, True]),
        ([], []),
        ([""], [True]),
    ],
)
def test_step_truth_table(steps, expected):
    assert step_truth(THREE, steps) == expected
    assert first_error(THREE, steps) == (expected.index(False) if False in expected else -1)


def test_thousands_separators():
    big = Problem(id="big", question="q", answer="1100",
                  meta={"start_value": 1000, "operations": [["+", 100]], "values": [1000, 1100]})
    assert step_truth(big, ["1,000 + 100 = 1,100.", "The answer is 1,100."]) == [True, True]
    assert step_truth(big, ["1,000 + 100 = 1,101."]) == [False]
    # "1,10" is not a thousands group: the number is 1, then 10.
    assert step_truth(big, ["1,10 + 100 = 110"]) == [False]


def test_answer_statement_forms_one_step():
    assert step_truth(ONE, ["3 + 4 = 7.", "The answer is 7."]) == [True, True]
    assert step_truth(ONE, ["3 + 4 = 7. The answer is 7."]) == [True]
    assert step_truth(ONE, ["3 + 4 = 7. The answer is 8."]) == [False]
    assert step_truth(ONE, ["The ANSWER is: 7"]) == [True]
    assert step_truth(ONE, ["The answer is -7"]) == [False]
    assert step_truth(ONE, ["The answer is 7.", "The answer is 8."]) == [True, False]
    # "answer" without a number is prose.
    assert step_truth(ONE, ["The answer is below.", "3 + 4 = 7"]) == [True, True]


def test_round_trip_with_step_format_text():
    fmt = StepFormat()
    for problem in make_problems(30, SyntheticConfig(num_steps=(1, 4))):
        text = fmt.join(fmt.split(problem.reference_solution))
        assert text == problem.reference_solution
        steps = fmt.split(text, drop_empty=True)
        assert step_truth(problem, steps) == [True] * len(steps)
        assert first_error(problem, steps) == -1


def test_model_style_text_split_by_step_format():
    text = "Ann has 3.\n\n3 + 4 = 7.\n\n\n\n7 - 2 = 6.\n\n6 * 3 = 18.\n\nThe answer is 18.\n"
    steps = StepFormat().split(text, drop_empty=True)
    assert steps == ["Ann has 3.", "3 + 4 = 7.", "7 - 2 = 6.", "6 * 3 = 18.", "The answer is 18."]
    assert step_truth(THREE, steps) == [True, True, False, False, False]


def test_step_truth_rejects_a_plain_string_and_foreign_problems():
    with pytest.raises(ValueError, match="StepFormat"):
        step_truth(THREE, "3 + 4 = 7.")
    foreign = Problem(id="gsm8k-1", question="q", answer="5")
    with pytest.raises(ValueError, match="gsm8k-1"):
        step_truth(foreign, ["The answer is 5."])


def test_untrusted_text_is_bounded_and_never_evaluated():
    hostile = [
        "__import__('os').system('echo no') = 0",
        "9" * 5000 + " + 1 = 1" + "0" * 5000,
        "1+" * 20000 + "=2",
        "- " * 20000,
        "answer is " * 5000,
        "boxed{" * 5000,
        "=" * 20000,
    ]
    started = time.perf_counter()
    truth = step_truth(THREE, hostile)
    assert time.perf_counter() - started < 5  # linear scanning; generous for a slow CPU
    assert truth[0] is False


# ------------------------------------------------------------------------------- corruption
def test_corrupt_places_first_error_exactly():
    rng = random.Random(0)
    config = SyntheticConfig(num_steps=(1, 4), operations=("+", "-", "*", "/"))
    for problem in make_problems(100, config):
        count = len(problem.meta["operations"]) + 1
        for step_index in range(count):
            steps = corrupt(problem, step_index, rng)
            assert len(steps) == count
            assert first_error(problem, steps) == step_index
            assert step_truth(problem, steps) == [i < step_index for i in range(count)]
            assert steps[:step_index] == StepFormat().split(problem.reference_solution)[:step_index]


def test_corrupt_is_seeded_and_checks_step_index():
    problem = make_problems(1, SyntheticConfig(num_steps=3))[0]
    assert corrupt(problem, 1, random.Random(3)) == corrupt(problem, 1, random.Random(3))
    with pytest.raises(ValueError, match="step_index must be in 0..3"):
        corrupt(problem, 4, random.Random(0))


def test_first_error_kind_names_why_the_first_wrong_step_is_wrong():
    from prm.data.synthetic_truth import first_error_kind

    assert first_error_kind(THREE, ["3 + 4 = 8."]) == "arithmetic"
    assert first_error_kind(THREE, ["3 + 4 = 7.", "7 * 3 = 21."]) == "wrong_operation"
    assert first_error_kind(THREE, CORRECT[:3] + ["The answer is 16."]) == "wrong_answer"
    assert first_error_kind(THREE, ["total = 9."]) == "wrong_value"
    assert first_error_kind(THREE, ["(3 + 4) = 7."]) == "unverifiable"
    assert first_error_kind(THREE, CORRECT) is None
