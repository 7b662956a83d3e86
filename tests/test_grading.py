"""prm.grading: extraction, equivalence tables, API and CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from prm.cli import main
from prm.grading import Grader, GraderConfig, GradeResult, Verdict, extract_answer, last_boxed_content
from prm.grading.extract import answer_text, canonical_number, check_limits, normalize

C, I, U = Verdict.CORRECT, Verdict.INCORRECT, Verdict.UNGRADABLE


@pytest.fixture(scope="module")
def grader():
    with Grader(timeout=5.0) as owned:
        yield owned


# ---------------------------------------------------------------- extraction (pure, no worker)
@pytest.mark.parametrize(
    "text, expected",
    [
        ("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\fbox{7}", "7"),
        ("first \\boxed{3} then a truncated \\boxed{\\frac{1}{", "3"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("Janet sells 9 eggs.\n#### 18", "18"),
        ("#### 1,000\n", "1,000"),
        ("Step 3: so 8000 + 8000 = 16000. The answer is: 16000", "16000"),
        ("The final answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
        ("the answer is 5.\nThe answer is 6.", "6"),
        ("no answer here", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_last_boxed_content_still_works_for_readers():
    assert last_boxed_content("a \\boxed{x^{2}} b") == "x^{2}"
    assert last_boxed_content("\\boxed{unclosed") is None
    assert last_boxed_content("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"
    assert last_boxed_content("\\boxed 5$") == "5"


@pytest.mark.timeout(30)
def test_many_unclosed_boxes_are_handled_in_one_pass():
    # Untrusted text: 20,000 unclosed boxes after a real one (quadratic matching would take minutes).
    text = "\\boxed{7} " + "\\boxed{" * 20_000
    assert last_boxed_content(text, max_chars=1_000_000) == "7"
    assert extract_answer("\\boxed{" * 20_000) is None


@pytest.mark.parametrize(
    "pred, expected",
    [
        ("$\\frac{1}{2}$", "\\frac{1}{2}"),
        ("\\(3\\)", "3"),
        ("\\boxed{4}", "4"),
        ("$\\boxed{12 $ and $13}$", "12  and 13"),
        ("\\boxed{1} and \\boxed{2}", "\\boxed{1} and \\boxed{2}"),
        ("$1$ and $2$", "$1$ and $2$"),
    ],
)
def test_answer_text(pred, expected):
    assert answer_text(pred) == expected


@pytest.mark.parametrize(
    "answer, expected",
    [("2,125", "2125"), ("2{,}125", "2125"), ("1 000 000", "1000000"), ("10,\\!000", "10000"),
     ("0,111", "0,111"), ("1,2", "1,2"), ("12,34", "12,34"), ("x,125", "x,125")],
)
def test_canonical_number(answer, expected):
    assert canonical_number(answer) == expected


def test_normalize():
    assert normalize("$\\left( 3, \\dfrac{\\pi}{2} \\right)$.") == normalize("( 3, \\frac{\\pi}{2} )")
    assert normalize("2,125") == "2125"
    assert normalize("10") != normalize("0.1")


def test_check_limits():
    assert check_limits("1+1", 10, 3) is None
    assert "too long" in check_limits("1" * 11, 10, 3)
    assert "nested" in check_limits("{" * 4 + "}" * 4, 100, 3)


# ---------------------------------------------------------------- equivalence (through the worker)
EQUIVALENCE_TABLE = [
    # the promises
    ("0.5", "\\frac{1}{2}", C),
    ("\\frac{1}{2}", "0.5", C),
    ("2125", "2,125", C),
    ("\\{1,2\\}", "\\{2,1\\}", C),
    ("(1,2)", "(2,1)", I),
    ("10", "0.1", I),
    ("100000", "100001", I),
    ("2", "2 \\text{ or } 3", I),
    ("2", "\\pm 2", I),
    ("2", "2, 3", I),
    ("3", "3, 4", I),
    # more
    ("\\frac{1}{2}", "$\\boxed{\\dfrac12}$", C),
    ("\\pm 2", "-2, 2", C),
    ("2, 3", "3, 2", C),
    ("x^2+2x+1", "(x+1)^2", C),
    ("\\sqrt{12}", "2\\sqrt{3}", C),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", C),
    ("1000", "1 000", C),
    ("18", "\\$18", C),
    ("50\\%", "50", C),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 3 \\end{pmatrix}", I),
    ("[0, 1)", "[0, 1]", I),
    ("7", "8", I),
    ("\\text{(A)}", "\\text{(B)}", I),
]


# Wrong answers that Math-Verify alone grades correct (the audit's classes), next to the
# nearby right answers that must stay correct.
FALSE_POSITIVE_TABLE = [
    # numbers below about 1e-6 no longer all round to 0; integers and fractions compare exactly
    ("0.0000001", "0.0000002", I),
    ("0.00000012", "0.00000013", I),
    ("10^{-9}", "0", I),
    ("\\frac{1}{3000000}", "0.0000003", I),
    ("\\frac{1}{20!}", "\\frac{1}{21!}", I),
    ("\\frac{1}{2^{60}}", "\\frac{1}{2^{61}}", I),
    ("100000000000000000000", "100000000000000000001", I),
    ("10^{20}", "100000000000000000001.0", I),
    ("1000000", "1000000.4", I),
    ("10^{-20}", "10^{-21}", I),
    ("\\pi", "3.141593", C),
    ("\\frac{1}{3}", "0.333333", C),
    ("\\frac{1}{3000000}", "0.000000333333", C),
    ("\\frac{1}{20!}", "\\frac{1}{2432902008176640000}", C),
    ("\\frac{\\sqrt{2}}{2}", "0.707107", C),
    ("0.00000012", "1.2 \\times 10^{-7}", C),
    ("0.28", "28 %", C),
    ("28\\%", "28 \\%", C),
    # malformed LaTeX and trailing junk: the parser must not read a prefix and drop the rest
    ("3", "3\\sqrt(5)", I),
    ("3", "3\\frac(1)(2)", I),
    ("3", "3)", I),
    ("3", "3+", I),
    ("3", "3 \\cdot", I),
    ("7", "7\\", I),
    ("12", "12#", I),
    ("12", "12 @ 4", I),
    ("3\\sqrt{5}", "3\\sqrt{5}", C),
    ("30", "30^\\circ.", C),  # a sentence's period is not junk
    ("7", "7\\text{ hours}.", C),
    ("2", "2007 + \\frac\\pi 2", I),  # braceless \frac: Math-Verify read 2
    ("5", "5 }", I),
    ("5", "{5", I),
    ("5", "5\\,", C),  # LaTeX spacing and a line break at the end are not junk
    ("5", "5 \\\\", C),
    # ... nor inside a sentence, where Math-Verify's free-text reader falls back the same way
    ("3", "The answer is $3\\sqrt(5)$ here", I),
    ("3", "The answer is $3)$ here", I),
    ("3", "so it is 3\\sqrt(5) in all", I),
    ("3", "so it is 3 \\cdot 5 in all", I),
    ("3", "The answer is $3 \\text{ apples}$ here", C),
    ("3", "so it is 3 (three) in all", C),
    # MATH golds whose words sit in \text{}: read whole, not as their first number
    ("8\\sqrt{3} \\text { square inches}", "8", I),
    ("8\\sqrt{3} \\text { square inches}", "8\\sqrt{3}", C),
    ("99\\pi \\text{ square inches}", "99", I),
    ("164 \\pi \\mbox{ square feet}", "164\\pi", C),
    # equation chains are read whole: a chain with two unequal number sides is wrong
    ("3", "x = 2 = 3", I),
    ("3", "1+1 = 3", I),
    ("6", "so we get $5 = 6$, done", I),
    ("4", "2 = 4", I),
    ("3", "x = 1 + 2 = 3", C),
    ("\\frac{1}{2}", "y = 0.5 = \\frac{1}{2}", C),
    ("5", "x = 5", C),
    ("3", "3.0 = 3", C),
    ("3", "x = 3 = 3.0000001", C),
    # program text around the right digit
    ("3", "def f(): return 3", I),
    ("3", "print(3)", I),
    ("3", "return 3", I),
    ("3", "```python\nx = 3\n```", I),
    ("3", "x == 3", I),
    ("3", "x = 3;", I),
    ("3", "ans = 3  # comment", I),
    ("3", "x := 3", I),
    ("3", "answer: 3 // integer division", I),
    ("18", "#### 18", C),
    # an unclosed box is a truncated answer, not an answer
    ("5", "\\boxed{5", I),
    ("5", "$\\boxed{5$", I),
    ("\\frac{1}{2}", "\\boxed{\\frac{1}{2}", I),
]


@pytest.mark.parametrize(
    "gold, pred, expected",
    [pytest.param(*row, id=f"equivalence-{i}") for i, row in enumerate(EQUIVALENCE_TABLE)]
    + [pytest.param(*row, id=f"math-verify-false-positive-{i}") for i, row in enumerate(FALSE_POSITIVE_TABLE)],
)
def test_equivalence_table_and_the_false_positives_of_math_verify(grader, gold, pred, expected):
    result = grader.grade(gold, pred)
    assert result.verdict is expected, result.reason


def test_numbers_equal_is_exact_or_relative():
    sympy = pytest.importorskip("sympy")
    from prm.grading.compare import numbers_equal

    Float, Rational = sympy.Float, sympy.Rational
    assert not numbers_equal(Float("1e-7"), Float("2e-7"))
    assert not numbers_equal(Rational(1, sympy.factorial(20)), Rational(1, sympy.factorial(21)))
    assert not numbers_equal(sympy.Integer(10**20), sympy.Integer(10**20 + 1))
    assert not numbers_equal(sympy.Integer(1_000_000), Float("1000000.4"))
    assert not numbers_equal(sympy.Integer(0), sympy.Pow(10, -20, evaluate=False))
    assert numbers_equal(Rational(1, 3), Float("0.333333"))
    assert numbers_equal(sympy.sqrt(2) / 2, Float("0.707107"))
    assert numbers_equal(Float("1.5e-7"), Float("1.5000001e-7"))
    assert numbers_equal(sympy.Integer(9), sympy.Integer(9))
    assert numbers_equal(Float("3.0"), sympy.Integer(3))  # sympy's own == says no
    assert not numbers_equal(sympy.Symbol("x"), sympy.Integer(1))


def test_reasons_name_the_refusal(grader):
    assert "could not be parsed" in grader.grade("3", "3\\sqrt(5)").reason
    assert "number sides differ" in grader.grade("3", "x = 2 = 3").reason
    assert "program code" in grader.grade("3", "def f(): return 3").reason
    assert "unclosed" in grader.grade("5", "\\boxed{5").reason
    assert "unclosed" in grader.grade("\\boxed{5", "5").reason


@pytest.mark.parametrize(
    "text",
    ["The answer is \\boxed{5", "so we get\n#### \\boxed{5", "The final answer is $\\boxed{\\frac{1}{2}$"],
)
def test_an_unclosed_box_after_the_answer_phrase_is_no_answer(grader, text):
    assert extract_answer(text) is None
    assert grader.grade_solution("5", text) == GradeResult(Verdict.INCORRECT, "no final answer")


def test_a_final_answer_after_a_long_prefix_is_read(grader):
    spam = " ".join(str(n) for n in range(5_000))  # about 24,000 characters of numbers
    assert grader.grade("5", spam + " so the answer is \\boxed{5}").is_correct
    assert grader.grade("5", spam + "\n5").is_correct
    assert grader.grade("5", spam + " \\boxed{6}").verdict is I
    nested = "{" * 100 + "}" * 100 + "\nThe answer is 5"
    assert grader.grade("5", nested).is_correct
    # Without a final answer to cut to, the length cap still applies.
    assert "too long" in grader.grade("5", spam).reason


def test_missing_or_empty_answers(grader):
    assert grader.grade(None, "1").verdict is U
    assert grader.grade("1", None).verdict is I
    assert grader.grade("1", "   ").verdict is I
    assert grader.grade(2, "2.0").verdict is C
    with pytest.raises(TypeError, match="pred must be a str"):
        grader.grade("1", ["1"])


def test_grade_solution(grader):
    assert grader.grade_solution("18", "She makes 9 * 2 = 18 dollars.\n#### 18").is_correct
    assert grader.grade_solution("\\frac{1}{2}", "Thus $p = \\boxed{0.5}$.").is_correct
    result = grader.grade_solution("18", "I am not sure.")
    assert result == GradeResult(Verdict.INCORRECT, "no final answer")


def test_grade_many_keeps_order(grader):
    pairs = [("1", "1"), ("1", "2"), ("\\frac{1}{2}", "0.5"), ("2", "\\pm 2")]
    assert [r.verdict for r in grader.grade_many(pairs)] == [C, I, C, I]


def test_decided_results_are_cached(grader):
    grader.grade("\\sqrt{4}", "2")
    assert ("\\sqrt{4}", "2") in grader._cache


@pytest.mark.slow
def test_grade_many_with_two_workers():
    with Grader(timeout=5.0, workers=2) as two:
        pairs = [("\\frac{1}{2}", "0.5"), ("3", "4"), ("x+1", "1+x"), ("2", "2, 3")] * 2
        assert [r.verdict for r in two.grade_many(pairs)] == [C, I, C, I] * 2


def test_verdict_and_result_types():
    assert Verdict("correct") is Verdict.CORRECT and Verdict.UNGRADABLE.value == "ungradable"
    result = GradeResult("incorrect", "why")
    assert result.verdict is Verdict.INCORRECT and not result.is_correct
    with pytest.raises(AttributeError):  # frozen
        result.reason = "changed"


@pytest.mark.parametrize(
    "options, message",
    [({"timeout": 0}, "timeout"), ({"workers": 0}, "workers"), ({"memory_limit_mb": 10}, "memory_limit_mb"),
     ({"cache_size": -1}, "cache_size"), ({"bogus": 1}, "unknown Grader option")],
)
def test_config_errors_name_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        Grader(**options)


def test_config_defaults():
    config = GraderConfig()
    assert config.timeout == 2.0 and config.workers == 1 and config.cache_size > 0


def test_import_starts_nothing_and_loads_no_sympy():
    code = "import sys, prm.grading; print('sympy' in sys.modules, prm.grading.grader._default_grader)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "None"]


def test_closed_grader_refuses():
    grader = Grader()
    grader.close()
    with pytest.raises(RuntimeError, match="closed"):
        grader.grade("1", "1")


# ---------------------------------------------------------------- CLI
def _cli(argv):
    return main(["grade", *argv])


def test_cli_single_pair(capsys):
    assert _cli(["--gold", "0.5", "--pred", "\\frac{1}{2}"]) == 0
    assert capsys.readouterr().out.startswith("correct")


def test_cli_file_counts_and_out(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in [{"gold": "1", "pred": "1"}, {"gold": "2", "pred": "3"}]))
    out = tmp_path / "verdicts.jsonl"
    assert _cli(["--data", str(pairs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "correct\t1" in printed and "incorrect\t1" in printed and "total\t2" in printed
    assert [json.loads(line)["verdict"] for line in out.read_text().splitlines()] == ["correct", "incorrect"]


@pytest.mark.parametrize(
    "line, message",
    [('{"gold": "1"}', "field 'pred': expected a string"), ("not json", "one complete JSON value"),
     ('["1", "2"]', "JSON object"), ('{"gold": "1", "pred": [1]}', "field 'pred': expected a string, got 'list'"),
     ('{"gold": "1", "pred": "1", "pred": "2"}', "duplicate")],
)
def test_cli_bad_file_names_the_line(tmp_path, capsys, line, message):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"gold": "1", "pred": "1"}\n' + line + "\n")
    assert _cli(["--data", str(pairs)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("prm grade: error: ") and f"{pairs}, line 2" in error and message in error
