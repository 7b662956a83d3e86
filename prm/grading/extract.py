"""Cheap, safe string work done in the calling process before an answer reaches the worker.

Public: `extract_answer(text)`, `final_answer(text)`, `answer_text(pred)`, `has_open_box(text)`,
`check_limits(text, max_chars, max_depth)`, `normalize(answer)`, `canonical_number(answer)`.

Nothing here evaluates text or imports sympy. Every function is linear in its input; callers run
`check_limits` (a single scan, no regex) before any other function here sees untrusted text,
except `final_answer`, which reads only the last `SOLUTION_TAIL_CHARS` characters.
"""

from __future__ import annotations

import re

from prm.grading.boxed import last_boxed_content

# How much of the end of a solution is searched for its final answer.
SOLUTION_TAIL_CHARS = 20_000

_OPEN, _CLOSE = "{([", "})]"
_BOX_MARKERS = ("\\boxed", "\\fbox")
_HASHES = "####"
_ANSWER_IS = re.compile(r"(?i)\b(?:the\s+)?(?:final\s+)?answer\s+is\s*:?")
_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?:(?:,|\{,\}|,\\!| |\\,)\d{3})+(?:\.\d+)?")
_SEPARATOR = re.compile(r"\{,\}|,\\!|\\,|[, ]")
_MATH_SHIFT = re.compile(r"(?<!\\)\$")
_SPACES = re.compile(r"\s+")
_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_DROP = ("\\left", "\\right", "\\displaystyle", "\\!")


def check_limits(text: str, max_chars: int, max_depth: int) -> str | None:
    """Why `text` is too big or too deeply nested to grade, or None when it is within limits.

    One pass over the characters; runs before any regex or sympy sees the text.
    """
    if len(text) > max_chars:
        return f"answer too long ({len(text)} > {max_chars} characters)"
    depth = deepest = 0
    for char in text:
        if char in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
        elif char in _CLOSE:
            depth -= 1
    if deepest > max_depth:
        return f"answer nested too deeply ({deepest} > {max_depth} levels of brackets)"
    return None


def extract_answer(text: str) -> str | None:
    """The final answer of a solution text, or None when it states none.

    In order: the last complete `\\boxed{...}` / `\\fbox{...}`; the rest of the line after the
    last `####` (GSM8K); the rest of the line after the last "The answer is" (also "final answer
    is", with an optional colon). Only the last `SOLUTION_TAIL_CHARS` characters are searched.
    A line whose answer is an unclosed box (`The answer is \\boxed{5`, a truncated generation)
    states no answer.
    """
    if not isinstance(text, str) or not text:
        return None
    tail = text[-SOLUTION_TAIL_CHARS:]
    boxed = last_boxed_content(tail)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    hashes = tail.rfind(_HASHES)
    if hashes >= 0:
        answer = _rest_of_line(tail, hashes + len(_HASHES))
        if answer:
            return None if has_open_box(answer) else answer
    last = None
    for last in _ANSWER_IS.finditer(tail):  # noqa: B007 - the loop is there to keep the last match
        pass
    if last is not None:
        answer = _rest_of_line(tail, last.end())
        return None if not answer or has_open_box(answer) else answer
    return None


def final_answer(text: str) -> str | None:
    """The final answer of a text too long to grade whole, found cheaply, or None.

    `extract_answer`'s answer (last box, `####`, "The answer is"), else the last non-empty line.
    Reads only the last `SOLUTION_TAIL_CHARS` characters, so that a long prefix (number spam, a
    long derivation) does not hide an answer that ends the text.
    """
    answer = extract_answer(text)
    if answer is not None:
        return answer
    tail = text[-SOLUTION_TAIL_CHARS:].rstrip()
    line = tail[tail.rfind("\n") + 1 :].strip()
    return line or None


def has_open_box(text: str) -> bool:
    """True when `text` has a `\\boxed` / `\\fbox` but no complete one (a truncated answer)."""
    return any(marker in text for marker in _BOX_MARKERS) and last_boxed_content(text) is None


def _rest_of_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)].strip()
    line = _strip_delimiters(line.rstrip(".").strip())
    return line.rstrip(".").strip()


def _strip_delimiters(answer: str) -> str:
    for opener, closer in _DELIMITERS:
        if len(answer) > len(opener) + len(closer) and answer.startswith(opener) and answer.endswith(closer):
            inner = answer[len(opener) : -len(closer)]
            if opener == "$" and "$" in inner:
                continue
            return inner.strip()
    return answer


def answer_text(pred: str) -> str:
    """The answer part of a predicted answer string.

    The content of its `\\boxed{}` if it has exactly one, else the string without a leading
    `####` and surrounding `$...$`, `\\(...\\)` or `\\[...\\]`. Other text (several boxes joined by "and", prose)
    is left for the worker's extractor. A string whose only boxes are unclosed (`\\boxed{5`, a
    truncated answer) has no answer part: "".
    """
    if has_open_box(pred):
        return ""
    if pred.count("\\boxed") + pred.count("\\fbox") > 1:
        return _strip_delimiters(pred.strip())
    boxed = last_boxed_content(pred)
    if boxed is not None and boxed.strip():
        # A box that straddles math mode (`\\boxed{12 $ and $13}`): its `$` signs mean nothing.
        return _MATH_SHIFT.sub("", boxed).strip()
    text = pred.strip()
    if text.startswith(_HASHES):  # a GSM8K answer line, `#### 18`
        text = text[len(_HASHES) :].strip()
    return _strip_delimiters(text)


def canonical_number(answer: str) -> str:
    """`2,125`, `2{,}125`, `2,\\!125` and `2 125` as `2125`; any other string unchanged."""
    if _THOUSANDS.fullmatch(answer):
        return _SEPARATOR.sub("", answer)
    return answer


def normalize(answer: str) -> str:
    """A conservative canonical form for the identical-string fast path.

    Drops `\\left`/`\\right`/`\\displaystyle`/`\\!`, a trailing period and surrounding math
    delimiters, reads `\\dfrac`/`\\tfrac` as `\\frac`, collapses whitespace and thousands
    separators. Two answers with the same normal form are the same answer.
    """
    text = _strip_delimiters(answer.strip().rstrip(".").strip())
    for token in _DROP:
        text = text.replace(token, "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _SPACES.sub(" ", text).strip().rstrip(".").strip()
    return canonical_number(text)
