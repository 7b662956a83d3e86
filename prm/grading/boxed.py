"""Find the last complete `\\boxed{...}` / `\\fbox{...}` in a text.

Public: `last_boxed_content(text, max_chars=...)`.

A hand-written brace matcher because a regex cannot match nested braces, and an unclosed box
(a truncated generation) must not count as an answer. It is linear in the text: one pass pairs
every brace, so thousands of unclosed boxes in untrusted text cost no more than one.
"""

from __future__ import annotations

_MARKERS = ("\\boxed", "\\fbox")
_BARE_STOPS = " $\n"


def last_boxed_content(text: str, max_chars: int = 100_000) -> str | None:
    """The content of the last complete `\\boxed{...}` or `\\fbox{...}`, or None.

    `\\boxed 5` (a box without braces) gives "5". Texts longer than max_chars are searched only
    in their last max_chars characters, which bounds the work on untrusted input. A brace
    right after a backslash (`\\{`) is literal and does not open or close a group.
    """
    if not isinstance(text, str):
        return None
    if len(text) > max_chars:
        text = text[-max_chars:]
    starts = sorted(_marker_positions(text), reverse=True)
    if not starts:
        return None
    closing = _matching_braces(text)
    for start, marker in starts:
        index = start + len(marker)
        if index < len(text) and text[index] == " ":
            content = _bare_argument(text, index + 1)
        elif index < len(text) and text[index] == "{" and index in closing:
            content = text[index + 1 : closing[index]]
        else:
            content = None
        if content is not None:
            return content
    return None


def _marker_positions(text: str) -> list[tuple[int, str]]:
    found = []
    for marker in _MARKERS:
        position = text.find(marker)
        while position >= 0:
            found.append((position, marker))
            position = text.find(marker, position + 1)
    return found


def _matching_braces(text: str) -> dict[int, int]:
    """{index of an unescaped `{`: index of its matching `}`}, for every group that closes."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    for position, char in enumerate(text):
        if char not in "{}" or (position > 0 and text[position - 1] == "\\"):
            continue
        if char == "{":
            stack.append(position)
        elif stack:
            closing[stack.pop()] = position
    return closing


def _bare_argument(text: str, start: int) -> str | None:
    """`\\boxed 5`: the argument runs to the next space, `$`, newline or the end."""
    end = start
    while end < len(text) and text[end] not in _BARE_STOPS:
        end += 1
    return text[start:end] or None
