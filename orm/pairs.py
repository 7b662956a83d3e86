"""Bradley-Terry preference pairs on disk: the reader `prm train --format pairs` uses.

Public: `read_pairs`; `PreferencePair` is the record of `prm.records` (re-exported here).

On disk a pair is one JSON line `{"prompt": str, "chosen": [str, ...], "rejected": [str, ...]}`
(steps as lists, as in the step-wise format's `completions`), plus an optional `id`; other
keys go to `meta`. `prm label --pairs-out` writes exactly this (`labeling.sampling.preference_pairs`).
Rows are read by the strict reader of `prm.data.io`, so a bad line raises a `DataError` naming
the file, the line and the field. `prm train --objective bradley_terry` trains the outcome head
so that r(chosen) > r(rejected).
"""

from __future__ import annotations

from pathlib import Path

from prm.data.errors import DataError
from prm.data.io import iter_rows
from prm.records import PreferencePair

__all__ = ["PreferencePair", "read_pairs"]


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """Pairs from a JSON-lines (or .json / .parquet) file; a bad row raises a `DataError`
    naming the file, the line and what was wrong."""
    pairs = []
    for where, row in iter_rows(path):
        if not isinstance(row, dict):
            raise DataError(where, None, "a JSON object with prompt, chosen and rejected", type(row).__name__)
        for key in ("prompt", "chosen", "rejected"):
            if key not in row:
                raise DataError(where, key, "a pair field (a pair has prompt, chosen and rejected)", detail="nothing",
                                reason=f"missing field {key!r}")
        try:
            pairs.append(PreferencePair.from_dict(row))
        except ValueError as error:
            raise DataError(where, None, "a pair {prompt: str, chosen: [str, ...], rejected: [str, ...]}",
                            detail=str(error), reason="bad pair") from None
    return pairs
