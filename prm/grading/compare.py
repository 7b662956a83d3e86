"""Answer equivalence with Math-Verify, as run inside the grading worker process.

Public: `decide(gold, pred) -> (verdict, reason)`, `install_guards()`, `UnsafeEvaluation`.

This module imports sympy and math-verify, so only the worker process (prm.grading._worker)
and tests import it; the parent process never does, and never receives a sympy object: the
worker sends back two strings.

Safety. Math-Verify's LaTeX parser (latex2sympy2 on an ANTLR grammar) builds sympy trees
without evaluating text. Two places in math-verify do turn text into Python: plain-expression
extraction calls `sympy.parse_expr` (which calls `eval`), and number extraction calls
`sympy.Number(str)` (which calls `sympify`). `install_guards()` replaces both with parsers that
accept only digits and arithmetic signs, and makes sympy's string evaluator (`eval_expr`,
`stringify_expr`, the functions behind `sympify(str)` and `parse_expr`) raise
`UnsafeEvaluation`, so any other route from text to `eval` fails loudly instead of running.
"""

from __future__ import annotations

import re

import sympy
from latex2sympy2_extended.latex2sympy2 import latex2sympy
from latex2sympy2_extended.sets import FiniteSet as _L2SFiniteSet
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify import parser as _mv_parser

CORRECT, INCORRECT, UNGRADABLE = "correct", "incorrect", "ungradable"

_LATEX = LatexExtractionConfig(boxed_match_priority=0)
_LATEX_AND_EXPR = (LatexExtractionConfig(), ExprExtractionConfig())
# Prose: two words of 2+ letters in a row, outside LaTeX commands.
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}[ ,;:]+[A-Za-z]{2,}\b")
# Math delimiters inside the text: it is a passage to extract from, not a bare answer.
_DELIMITED = re.compile(r"(?<!\\)\$|\\\(|\\\[")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_ARITHMETIC = re.compile(r"[\d.\s+\-*/^()×÷]+")


class UnsafeEvaluation(BaseException):
    """Text reached a Python evaluator (eval, sympify(str), parse_expr).

    A BaseException so that math-verify's `except Exception` cannot swallow it.
    """


def _refuse(*args, **kwargs):
    raise UnsafeEvaluation("text reached a Python evaluator; refused")


def _safe_number(text):
    """`sympy.Number` for math-verify's number extraction: digits only, no sympify."""
    if isinstance(text, str):
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"not a plain number: {text[:40]!r}")
        if text.lstrip("+-").isdigit():
            return sympy.Integer(int(text))
        return sympy.Float(text)
    return sympy.Number(text)


def _safe_arithmetic(expr: str):
    """math-verify's `parse_expr_cached` replaced: arithmetic text read as LaTeX, never eval'd."""
    expr = expr.strip().rstrip(".")
    if not _ARITHMETIC.fullmatch(expr):
        raise ValueError(f"not plain arithmetic: {expr[:40]!r}")
    latex = expr.replace("**", "^").replace("×", "\\times ").replace("÷", "\\div ")
    return latex2sympy(latex, normalization_config=None)


def _safe_parse_number(self, text: str):
    """latex2sympy2's `parse_number` without `sympy.Number(str)` (which calls sympify)."""
    return _safe_number(text.replace(",", ""))


# sympy modules that comparisons import lazily and that call sympify on constant strings at
# import time: imported before the guards go up.
_IMPORT_FIRST = (
    "antlr4.LL1Analyzer",
    "sympy.assumptions.wrapper",
    "sympy.combinatorics",
    "sympy.physics.matrices",
    "sympy.physics.units",
    "sympy.sets.setexpr",
    "sympy.tensor.tensor",
)
_WARM_UP = (("\\frac{1}{2}", "0.5"), ("x^2+1", "1+x^2"), ("(1,2]", "x \\le 2"), ("3\\%", "0.03"))


def install_guards() -> None:
    """Route math-verify around Python evaluation and make sympy's string evaluator raise.

    Imports what comparisons load lazily and runs a few comparisons first, so that sympy's
    own start-up use of `sympify` on constant strings happens before the guards go up.
    """
    import importlib

    import sympy.parsing.sympy_parser as sympy_parser

    for name in _IMPORT_FIRST:
        importlib.import_module(name)
    for gold, pred in _WARM_UP:
        decide(gold, pred)

    _mv_parser.parse_expr_cached = _safe_arithmetic
    _mv_parser.parse_expr = _refuse
    _mv_parser.Number = _safe_number
    sympy_parser.eval_expr = _refuse
    sympy_parser.stringify_expr = _refuse
    sympy_parser.parse_expr = _refuse
    import latex2sympy2_extended.latex2sympy2 as l2s

    l2s.parse_expr = _refuse
    l2s._Latex2Sympy.parse_number = _safe_parse_number
    l2s.Number = _safe_number


def _parse(text: str) -> list:
    """Math-Verify parse of an answer (boxed as a whole) or, failing that, of free text."""
    if not _PROSE.search(text) and not _DELIMITED.search(text):
        parsed = parse(f"\\boxed{{{text}}}", [_LATEX], parsing_timeout=None)
        if parsed and not isinstance(parsed[0], str):
            return parsed
    return parse(text, _LATEX_AND_EXPR, parsing_timeout=None)


def _is_hedge(gold: list, pred: list) -> bool:
    """A single gold value against several predicted values (`2 or 3`, `\\pm 2`, `1, 2`)."""
    gold_objects = [item for item in gold if not isinstance(item, str)]
    pred_objects = [item for item in pred if not isinstance(item, str)]
    if not gold_objects or not pred_objects:
        return False
    gold_value = gold_objects[0]
    if isinstance(gold_value, sympy.Eq):
        gold_value = gold_value.rhs
    gold_single = isinstance(gold_value, sympy.Expr)
    finite_sets = (sympy.FiniteSet, _L2SFiniteSet)
    pred_several = isinstance(pred_objects[0], finite_sets) and len(pred_objects[0].args) > 1
    return gold_single and pred_several


def decide(gold: str, pred: str) -> tuple[str, str]:
    """(verdict, reason) for one gold/prediction pair of answer strings.

    Only for use inside the bounded worker (or a test): it runs sympy without a time limit.
    """
    gold_parsed = _parse(gold)
    if not gold_parsed:
        return UNGRADABLE, "gold answer could not be parsed"
    pred_parsed = _parse(pred)
    if not pred_parsed:
        return INCORRECT, "prediction could not be parsed"
    if _is_hedge(gold_parsed, pred_parsed):
        return INCORRECT, "hedged: several values where one is due"
    if verify(gold_parsed, pred_parsed, timeout_seconds=None):
        return CORRECT, "equivalent (math-verify)"
    return INCORRECT, "not equivalent (math-verify)"

