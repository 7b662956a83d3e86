"""prm.grading never hands model or data text to a Python evaluator.

Two layers are tested: in-process, the comparison code runs with every evaluator path
(eval, exec, sympify/parse_expr on strings) made to raise and record; and end to end, injection
attempts go through the real worker and must neither run nor grade as correct.
"""

from __future__ import annotations

import builtins
import logging

import pytest

sympy = pytest.importorskip("sympy")
pytest.importorskip("math_verify")

import sympy.parsing.sympy_parser as sympy_parser  # noqa: E402

from prm.grading import Grader, Verdict  # noqa: E402


class _Reached(BaseException):
    """BaseException so that math-verify's `except Exception` cannot hide it."""


def _injections(sentinel) -> list[str]:
    command = f"touch {sentinel}"
    return [
        f"__import__('os').system('{command}')",
        f"\\boxed{{__import__('os').system('{command}')}}",
        f"$__import__(\"os\").system(\"{command}\")$",
        f"exec(\"import os; os.system('{command}')\")",
        f"eval(\"__import__('os').system('{command}')\")",
        f"1 + __import__('os').system('{command}')",
        "().__class__.__bases__[0].__subclasses__()",
        "lambda: open('/etc/passwd').read()",
        f"\\text{{__import__('os').system('{command}')}}",
        "Symbol('x'); import os",
    ]


@pytest.fixture
def guarded(monkeypatch):
    """compare.decide with its guards on, and every evaluator path patched to record and raise.

    monkeypatch first saves every attribute install_guards replaces, so the test process gets
    them back at teardown.
    """
    import latex2sympy2_extended.latex2sympy2 as l2s
    from math_verify import parser as mv_parser

    from prm.grading import compare

    for module, name in [
        (mv_parser, "parse_expr_cached"), (mv_parser, "parse_expr"), (mv_parser, "Number"),
        (sympy_parser, "eval_expr"), (sympy_parser, "stringify_expr"), (sympy_parser, "parse_expr"),
        (l2s, "parse_expr"), (l2s, "Number"), (l2s._Latex2Sympy, "parse_number"),
    ]:
        monkeypatch.setattr(module, name, getattr(module, name))
    logging.disable(logging.WARNING)
    compare.install_guards()
    reached: list[str] = []

    def record(kind, original=None):
        def refuse(*args, **kwargs):
            if original is not None and args and not isinstance(args[0], (str, bytes)):
                return original(*args, **kwargs)  # the import system execs compiled code objects
            reached.append(f"{kind}: {str(args[:1])[:80]}")
            raise _Reached(kind)

        return refuse

    monkeypatch.setattr(builtins, "eval", record("eval", builtins.eval))
    monkeypatch.setattr(builtins, "exec", record("exec", builtins.exec))
    monkeypatch.setattr(sympy_parser, "eval_expr", record("eval_expr"))
    monkeypatch.setattr(sympy_parser, "stringify_expr", record("stringify_expr"))
    monkeypatch.setattr(sympy_parser, "parse_expr", record("parse_expr"))
    monkeypatch.setattr(mv_parser, "parse_expr", record("math_verify parse_expr"))
    monkeypatch.setattr(l2s, "parse_expr", record("latex2sympy parse_expr"))
    yield compare.decide, reached
    logging.disable(logging.NOTSET)


NORMAL_CASES = [
    ("\\frac{1}{2}", "0.5", "correct"),
    ("2125", "2,125", "correct"),
    ("7425000", "7,425,000", "correct"),
    ("0.4", ".4", "correct"),
    ("\\{1,2\\}", "\\{2,1\\}", "correct"),
    ("(1,2)", "(2,1)", "incorrect"),
    ("10", "0.1", "incorrect"),
    ("x^2+2x+1", "x^2 + 2*x + 1", "correct"),
    ("28\\%", "28 percent", "correct"),
    ("2/3", "so P(A) = (1/2) * (4/3) = 2/3. Done", "correct"),
    ("x \\in [-2,7]", "[-2, 7]", "correct"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "correct"),
    ("2", "\\pm 2", "incorrect"),
]


@pytest.mark.parametrize("gold, pred, expected", NORMAL_CASES)
def test_comparisons_never_reach_an_evaluator(guarded, gold, pred, expected):
    decide, reached = guarded
    verdict, reason = decide(gold, pred)
    assert reached == []
    assert verdict == expected, reason


def test_injections_never_reach_an_evaluator(tmp_path, guarded):
    decide, reached = guarded
    sentinel = tmp_path / "pwned"
    for text in _injections(sentinel):
        for gold, pred in ((("3", text)), (text, "3")):
            verdict, _ = decide(gold, pred)
            assert verdict != "correct", (gold, pred)
    assert reached == []
    assert not sentinel.exists()


def test_guards_refuse_string_evaluation(guarded):
    from prm.grading import compare

    # sympify on a string ends in sympy's string evaluator, which now records and raises.
    decide, reached = guarded
    with pytest.raises(_Reached):
        sympy.sympify("__import__('os')")
    with pytest.raises(ValueError):
        compare._safe_arithmetic("__import__('os')")
    with pytest.raises(ValueError):
        compare._safe_number("1e5; import os")
    assert compare._safe_arithmetic("(1+2)*3^2").doit() == 27
    assert float(compare._safe_number("0.25")) == 0.25 and compare._safe_number("12") == 12


def test_injections_through_the_worker(tmp_path):
    sentinel = tmp_path / "pwned"
    with Grader(timeout=5.0) as grader:
        for text in _injections(sentinel):
            for gold, pred in (("3", text), (text, "3")):
                result = grader.grade(gold, pred)
                assert result.verdict is not Verdict.CORRECT, (gold, pred, result)
                assert isinstance(result.reason, str)
        assert grader.grade("3", "3.0").is_correct  # the worker is still healthy
    assert not sentinel.exists()
