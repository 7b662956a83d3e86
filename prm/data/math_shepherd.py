"""Math-Shepherd reader: `{"input", "label", "task"}` rows -> `StepwiseSolution`.

Public: `read_math_shepherd(path, on_error=..., report=...)`, `parse_math_shepherd_rows(rows, ...)`,
`STEP_TAG`.

`input` is the problem followed by `Step 1: ... ки\\nStep 2: ... ки...`; `label` is the same text
with every `ки` replaced by `+` (the step can still reach the right answer: 1.0) or `-` (0.0).
The prompt is the text before `Step 1:` (stripped); each step is the text between tags,
stripped, keeping its `Step k:` prefix as the source has it. The label string is checked to be
exactly the input with each tag replaced by one `+`/`-`; where it is not, the record is bad
and the error names the line and the character offset where the two part.
"""

from __future__ import annotations

from prm.data.errors import DataError, Location, require
from prm.data.io import file_reader, object_rows_parser
from prm.records import StepwiseSolution

STEP_TAG = "ки"
_FIRST_STEP = "Step 1:"
_LABEL_VALUES = {"+": 1.0, "-": 0.0}


def _parse_row(where: Location, row: dict, default_id: str) -> StepwiseSolution:
    text = require(where, row, "input", str)
    label_text = require(where, row, "label", str)
    pieces = text.split(STEP_TAG)
    if len(pieces) < 2:
        raise DataError(where, "input", f"steps each ending in the tag {STEP_TAG!r}", text[-60:])
    labels = _align(where, pieces, label_text)
    if pieces[-1].strip():
        raise DataError(where, "input", f"nothing after the last {STEP_TAG!r} tag", pieces[-1][:60])
    start = pieces[0].find(_FIRST_STEP)
    if start < 0:
        raise DataError(where, "input", f"the problem, then {_FIRST_STEP!r} before the first {STEP_TAG!r} tag", pieces[0][-60:])
    steps = [pieces[0][start:].strip()] + [piece.strip() for piece in pieces[1:-1]]
    empty = next((number for number, step in enumerate(steps) if not step), None)
    if empty is not None:
        raise DataError(where, "input", f"text in every step (step {empty + 1} is empty)", text[:60], reason="empty field 'input'")
    if not pieces[0][:start].strip():
        raise DataError(where, "input", f"the problem's text before {_FIRST_STEP!r}", text[:60], reason="empty field 'input'")
    meta = {"task": row["task"]} if row.get("task") is not None else {}
    return StepwiseSolution(
        prompt=pieces[0][:start].strip(),
        steps=tuple(steps),
        labels=tuple(labels),
        id=default_id,
        meta=meta,
    )


parse_math_shepherd_rows = object_rows_parser(
    _parse_row, "math-shepherd", "Records from (location, row) pairs; ids are `<id_prefix>-<0-based index>`."
)
read_math_shepherd = file_reader(
    parse_math_shepherd_rows, "Records of a Math-Shepherd jsonl file."
)


def _align(where: Location, pieces: list[str], label_text: str) -> list[float]:
    """One value per tag, checking `label_text == piece0 + c1 + piece1 + ... ` with c in +/-."""
    labels: list[float] = []
    offset = 0
    for number, piece in enumerate(pieces):
        if not label_text.startswith(piece, offset):
            common = 0
            while common < len(piece) and label_text[offset + common : offset + common + 1] == piece[common]:
                common += 1
            raise _misaligned(where, label_text, offset + common, f"the input's text of step {number + 1}")
        offset += len(piece)
        if number == len(pieces) - 1:
            break
        mark = label_text[offset : offset + 1]
        if mark not in _LABEL_VALUES:
            raise _misaligned(where, label_text, offset, f"'+' or '-' ending step {number + 1}")
        labels.append(_LABEL_VALUES[mark])
        offset += 1
    if offset != len(label_text):
        raise _misaligned(where, label_text, offset, "the end of the text (as in the input)")
    return labels


def _misaligned(where: Location, label_text: str, offset: int, wanted: str) -> DataError:
    return DataError(
        where, "label",
        f"the input with each {STEP_TAG!r} replaced by '+' or '-' ({wanted} at character {offset})",
        label_text[offset : offset + 30], reason="misaligned label",
    )
