"""Find the last complete `\\boxed{...}` / `\\fbox{...}` in a text.

Public: `last_boxed_content(text, max_chars=...)`.

A hand-written brace matcher (linear, no regex backtracking) because a regex cannot match
nested braces, and an unclosed box (a truncated generation) must not count as an answer.
"""

from __future__ import annotations

_MARKERS = ("\\boxed", "\\fbox")


def last_boxed_content(text: str, max_chars: int = 100_000) -> str | None:
    """The content of the last complete `\\boxed{...}` or `\\fbox{...}`, or None.

    `\\boxed 5` (a box without braces) gives "5". Texts longer than max_chars are searched only
    in their last max_chars characters, which bounds the work on untrusted input.
    """
    if not isinstance(text, str):
        return None
    if len(text) > max_chars:
        text = text[-max_chars:]
    start = max(text.rfind(marker) for marker in _MARKERS)
    while start >= 0:
        content = _box_at(text, start)
        if content is not None:
            return content
        start = max(text.rfind(marker, 0, start) for marker in _MARKERS)
    return None


def _box_at(text: str, start: int) -> str | None:
    marker = "\\boxed" if text.startswith("\\boxed", start) else "\\fbox"
    index = start + len(marker)
    if index < len(text) and text[index] == " ":
        # `\boxed 5`: the argument runs to the next space, `$` or end.
        rest = text[index + 1 :]
        for stop, char in enumerate(rest):
            if char in " $\n":
                rest = rest[:stop]
                break
        return rest or None
    if index >= len(text) or text[index] != "{":
        return None
    depth = 0
    for position in range(index, len(text)):
        char = text[position]
        if char == "\\":
            continue
        if char == "{" and text[position - 1] != "\\":
            depth += 1
        elif char == "}" and text[position - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[index + 1 : position]
    return None
