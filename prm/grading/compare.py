"""Answer equivalence with Math-Verify, as run inside the grading worker process.

Public: `decide(gold, pred) -> (verdict, reason)`, `numbers_equal(a, b)`, `install_guards()`,
`UnsafeEvaluation`.

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

Strictness (what Math-Verify alone would grade correct and this module does not):
- an answer is read whole: a bare answer (no math delimiters, no run of words outside
  `\\text{}`) must parse as one expression with balanced braces, and what the free-text reader
  takes out of a sentence must parse whole to the same value and not stop mid-expression;
  Math-Verify's fallbacks read a number out of what its LaTeX parser rejects (`3\\sqrt(5)`
  and `3)` as 3, `99\\pi \\text{ square inches}` as 99), so such text is "could not be
  parsed" (or, for `\\text{}` units, read whole) instead;
- numbers compare exactly when neither side is a decimal (integers, fractions, `1/20!`), and
  a decimal matches at 6 decimal places *and* to a relative 5e-6, so values below 1e-6 no
  longer all round to 0 (`numbers_equal` replaces `math_verify.grader.sympy_numeric_eq`);
- a predicted equation (chain) with two number sides that differ (`x = 2 = 3`, `1+1 = 3`) is
  incorrect instead of being read by its last side;
- a prediction that looks like program code (`def`, `return`, `print(`, code fences, `==`,
  a `# comment`)
  is incorrect, whatever digit it contains.
"""

from __future__ import annotations

import re

import sympy
from latex2sympy2_extended.latex2sympy2 import latex2sympy
from latex2sympy2_extended.sets import FiniteSet as _L2SFiniteSet
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify import grader as _mv_grader
from math_verify import parser as _mv_parser

CORRECT, INCORRECT, UNGRADABLE = "correct", "incorrect", "ungradable"

_LATEX = LatexExtractionConfig(boxed_match_priority=0)
_LATEX_AND_EXPR = (LatexExtractionConfig(), ExprExtractionConfig())
# Prose: two words of 2+ letters in a row, outside LaTeX commands.
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}[ ,;:]+[A-Za-z]{2,}\b")
# LaTeX spacing that may end an answer: `\,` `\;` `\:` `\!` `\quad` `\qquad` and a `\\` line break.
_TRAILING_SPACING = ("\\\\", "\\,", "\\;", "\\:", "\\!", "\\qquad", "\\quad")
# What goes on after a read number or expression: an operator or a math command (spaces allowed),
# or a bracket or digit right after it. Not `\text{...}` (units) nor a bracket after a space.
_CONTINUES = re.compile(
    r"[ \t]*(?:\\(?:sqrt|[dt]?frac|cdot|times|div|pi|pm|mp|ln|log|exp|sin|cos|tan|binom|left)(?![A-Za-z])|[\^_*/])"
    r"|[({\[\d]"
)
# Words inside `\text{...}` (units, "or", "and") do not make an answer prose.
_TEXT_GROUP = re.compile(r"\\(?:text|mbox|mathrm|textbf|textit)\s*\{[^{}]*\}")
_TEXT_SPACE = re.compile(r"\\(text|mbox|mathrm)\s+\{")  # `\text {` as `\text{`, which Math-Verify reads
# A word of 2+ letters that is not a LaTeX command.
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
# Math delimiters inside the text: it is a passage to extract from, not a bare answer.
_DELIMITED = re.compile(r"(?<!\\)\$|\\\(|\\\[")
_SPACING = re.compile(r"\\[ ,;!]|\s")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_ARITHMETIC = re.compile(r"[\d.\s+\-*/^()×÷]+")
# Program text: a code fence, a definition, a return or print statement, an import, `==`, a
# `# comment` (not LaTeX's `\#`, nor GSM8K's `####`).
_CODE = re.compile(
    r"```|\bdef\s+\w+\s*\(|\breturn\b|\bprint\s*\(|\bimport\s+\w|\blambda\b|==|>>>|(?<![\\#])#(?!#)\s*[A-Za-z]{2,}"
)
# A decimal matches another number at Math-Verify's 6 decimal places and, so that tiny values
# do not all round to 0, also to this relative tolerance (a 6-significant-digit rounding).
FLOAT_ROUNDING = 6
RELATIVE_TOLERANCE = 5e-6
# Two exact number expressions are equal when their difference, evaluated to 15 digits, is
# 0 or below this share of their size (the evaluation noise of equal closed forms).
_EXACT_NOISE = 1e-12
_NUMERIC_DIGITS = 15


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
        # Keep every written digit: at the default 15, 100000000000000000001.0 == 1e20.
        digits = sum(char.isdigit() for char in text.split("e")[0].split("E")[0])
        return sympy.Float(text, max(15, digits))
    return sympy.Number(text)


def _safe_arithmetic(expr: str):
    """math-verify's `parse_expr_cached` replaced: arithmetic text read as LaTeX, never eval'd."""
    expr = expr.strip().rstrip(".")
    if not _ARITHMETIC.fullmatch(expr):
        raise ValueError(f"not plain arithmetic: {expr[:40]!r}")
    latex = expr.replace("**", "^").replace("×", "\\times ").replace("÷", "\\div ")
    return latex2sympy(latex, normalization_config=None)


def _safe_parse_number(self, text: str):
    """latex2sympy2's `parse_number` without `sympy.Number(str)` (which calls sympify).

    A percentage token keeps the spacing before its sign (`20 \\%` gives "20 "): dropped here,
    as `sympy.Number` would.
    """
    return _safe_number(_SPACING.sub("", text.replace(",", "")))


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
    """Math-Verify parse of an answer, read whole: [] when only a part of it would be read.

    A bare answer (no math delimiters, no run of words outside `\\text{}`) must parse as one
    expression, unless it holds two words (then it is a sentence: "so P(A) = 2/3. Done") and
    goes to the free-text reader.
    Math-Verify's own fallbacks read a number out of what its LaTeX parser rejects (`3\\sqrt(5)`
    and `3)` as 3, also inside `$...$` in a sentence), so a free-text read must itself parse
    whole, and must not stop where the expression goes on.
    """
    if not _PROSE.search(_TEXT_GROUP.sub(" ", text)) and not _DELIMITED.search(text):
        parsed = _parse_whole(text)
        words = _WORD.finditer(text)
        if parsed or next(words, None) is None or next(words, None) is None:
            return parsed
    parsed = parse(text, _LATEX_AND_EXPR, parsing_timeout=None)
    value = next((item for item in parsed if not isinstance(item, str)), None)
    read = next((item for item in parsed if isinstance(item, str)), "")
    if value is None or not read or "\\boxed" in read or "\\fbox" in read:
        return parsed  # several boxes read as one set: Math-Verify's own reading stands
    if isinstance(value, (sympy.Set, sympy.Tuple)):
        return parsed
    whole = _parse_whole(read)
    if not whole or not _same_value(value, whole[0]) or _stops_short(text, read):
        return []
    return parsed


def _parse_whole(text: str) -> list:
    """The parse of `text` as one LaTeX expression, or [] (also when its braces do not balance)."""
    text = _TEXT_SPACE.sub(r"\\\1{", _strip_trailing(text) or text)
    if not _braces_balance(text):
        return []
    parsed = parse(f"\\boxed{{{text}}}", [_LATEX], parsing_timeout=None)
    return parsed if parsed and not isinstance(parsed[0], str) else []


def _braces_balance(text: str) -> bool:
    """Every unescaped `{` closes, and no `}` closes what was never opened (`5 }`, `{5`)."""
    depth = 0
    for position, char in enumerate(text):
        if char not in "{}" or (position > 0 and text[position - 1] == "\\"):
            continue
        depth += 1 if char == "{" else -1
        if depth < 0:
            return False
    return depth == 0


def _strip_trailing(text: str) -> str:
    """`text` without trailing spaces, LaTeX spacing (`\\,`, `\\quad`, `\\\\`), periods and commas.

    A sentence's period or a list's comma after a boxed answer (`30^\\circ.`) is not junk.
    """
    while True:
        stripped = text.rstrip()
        spacing = next((item for item in _TRAILING_SPACING if stripped.endswith(item)), None)
        if spacing is not None:  # before the comma: `\\,` is spacing, not a comma
            stripped = stripped[: -len(spacing)]
        elif stripped.endswith((".", ",")):
            stripped = stripped[:-1]
        if stripped == text:
            return text
        text = stripped


def _same_value(a, b) -> bool:
    """Whether two parses of one read agree (numbers by value, anything else by its form)."""
    if _is_number(a) and _is_number(b):
        return numbers_equal(a, b)
    return str(a) == str(b)


def _stops_short(text: str, read: str) -> bool:
    """True when `read`, where it last occurs in `text`, is followed by more of an expression."""
    position = text.rfind(read)
    return position >= 0 and bool(_CONTINUES.match(text, position + len(read)))


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


def _is_number(expr) -> bool:
    return isinstance(expr, sympy.Expr) and not expr.free_symbols and not expr.has(sympy.MatrixSymbol)


def _false_equation(expr) -> bool:
    """An equation, or a chain of them, in which two number sides differ (`x = 2 = 3`)."""
    if isinstance(expr, sympy.Eq):
        return _is_number(expr.lhs) and _is_number(expr.rhs) and not numbers_equal(expr.lhs, expr.rhs)
    if isinstance(expr, (sympy.And, sympy.FiniteSet, _L2SFiniteSet, sympy.Tuple)):
        return any(_false_equation(arg) for arg in getattr(expr, "_unsorted_args", expr.args))
    return False


def decide(gold: str, pred: str) -> tuple[str, str]:
    """(verdict, reason) for one gold/prediction pair of answer strings.

    Only for use inside the bounded worker (or a test): it runs sympy without a time limit.
    """
    gold_parsed = _parse(gold)
    if not gold_parsed:
        return UNGRADABLE, "gold answer could not be parsed"
    if _CODE.search(pred):
        return INCORRECT, "the prediction looks like program code"
    pred_parsed = _parse(pred)
    if not pred_parsed:
        return INCORRECT, "prediction could not be parsed"
    if any(_false_equation(item) for item in pred_parsed if not isinstance(item, str)):
        return INCORRECT, "an equation whose number sides differ"
    if _is_hedge(gold_parsed, pred_parsed):
        return INCORRECT, "hedged: several values where one is due"
    if verify(gold_parsed, pred_parsed, timeout_seconds=None):
        return CORRECT, "equivalent (math-verify)"
    return INCORRECT, "not equivalent (math-verify)"



def numbers_equal(a, b, float_rounding: int = FLOAT_ROUNDING, numeric_precision: int = _NUMERIC_DIGITS) -> bool:
    """Math-Verify's numeric equality, with exact and relative comparison (see the module doc).

    Same signature and cases as `math_verify.grader.sympy_numeric_eq`, which it replaces:
    matrices element-wise; percentages (`X%` is `X * 1/100`); a decimal on either side at
    `float_rounding` decimal places and to `RELATIVE_TOLERANCE`; integers and fractions
    exactly; other number expressions when their difference vanishes relative to their size
    (Math-Verify chopped it to 15 decimal places, so 1/20! equalled 1/21!).
    """
    if isinstance(a, (sympy.MatrixBase, sympy.MatrixExpr)) and isinstance(b, (sympy.MatrixBase, sympy.MatrixExpr)):
        a, b = _mv_grader.safe_sympy_doit(a), _mv_grader.safe_sympy_doit(b)
        if isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase) and a.shape == b.shape:
            return all(
                numbers_equal(x, y, float_rounding, numeric_precision) for x, y in zip(a.flat(), b.flat())
            )
        return False
    atomic = _mv_grader.is_atomic_or_pct_atomic
    try:
        if atomic(a, sympy.Number) or atomic(b, sympy.Number):
            if atomic(a, sympy.Float) or atomic(b, sympy.Float):
                a, b = _mv_grader.safe_sympy_doit(a), _mv_grader.safe_sympy_doit(b)
                # A difference, not `==`: sympy's Float(3.0) == Integer(3) is False.
                if (a.round(float_rounding) - b.round(float_rounding)).is_zero is not True:
                    return False
                return bool(abs(a - b).evalf(numeric_precision) <= RELATIVE_TOLERANCE * _size(a, b, numeric_precision))
            if atomic(a, sympy.Integer) and atomic(b, sympy.Integer):
                return _mv_grader.get_pct_val(a, a) == _mv_grader.get_pct_val(b, b)
            return bool(_mv_grader.safe_sympy_doit(a) == _mv_grader.safe_sympy_doit(b))
        difference = (a - b).evalf(numeric_precision)
        if difference.is_zero:
            return True
        return bool(abs(difference) <= _EXACT_NOISE * _size(a, b, numeric_precision))
    except (TypeError, ValueError, AttributeError, ArithmeticError):
        # Symbols left over, NaN, or a complex value that cannot be rounded: not numerically equal.
        return False


def _size(a, b, digits: int):
    return sympy.Max(abs(a).evalf(digits), abs(b).evalf(digits))


# Every numeric comparison in math_verify.grader looks this name up at call time.
_mv_grader.sympy_numeric_eq = numbers_equal
