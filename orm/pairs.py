"""Bradley-Terry preference pairs on disk: the reader `prm train --format pairs` uses.

Public: `read_pairs`; `PreferencePair` is the record of `prm.records` (re-exported here).

On disk a pair is one JSON line `{"prompt": str, "chosen": [str, ...], "rejected": [str, ...]}`
(steps as lists, as in the step-wise format's `completions`), plus an optional `id`; other
keys go to `meta`. `prm label --pairs-out` writes exactly this (`labeling.sampling.preference_pairs`).
Rows are read by the strict reader of `prm.data.io`, so a bad line raises a `DataError` naming
the file, the line and the field: an empty prompt or step, an empty side and a repeated id are
bad rows too. `prm train --objective bradley_terry` trains the outcome head
so that r(chosen) > r(rejected).
"""

from __future__ import annotations

from pathlib import Path

from prm.data.errors import DataError, require_strings, require_text
from prm.data.io import iter_rows
from prm.records import PreferencePair

__all__ = ["PreferencePair", "read_pairs"]


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """Pairs from a JSON-lines (or .json / .parquet) file; a bad row raises a `DataError`
    naming the file, the line and what was wrong."""
    pairs = []
    first_seen = {}
    for where, row in iter_rows(path):
        if not isinstance(row, dict):
            raise DataError(where, None, "a JSON object with prompt, chosen and rejected", type(row).__name__)
        for key in ("prompt", "chosen", "rejected"):
            if key not in row:
                raise DataError(where, key, "a pair field (a pair has prompt, chosen and rejected)", detail="nothing",
                                reason=f"missing field {key!r}")
        require_text(where, row, "prompt")
        for key in ("chosen", "rejected"):
            if isinstance(row[key], list):  # not a list: PreferencePair.from_dict says what it must be
                require_strings(where, row, key, non_empty=True, blank_items=False)
        if row.get("id") is not None:
            if row["id"] in first_seen:
                raise DataError(where, "id", "an id no other pair has", detail=f"{row['id']!r}, also at {first_seen[row['id']]}",
                                reason="duplicate id")
            first_seen[row["id"]] = where
        try:
            pairs.append(PreferencePair.from_dict(row))
        except ValueError as error:
            raise DataError(where, None, "a pair {prompt: str, chosen: [str, ...], rejected: [str, ...]}",
                            detail=str(error), reason="bad pair") from None
    return pairs
