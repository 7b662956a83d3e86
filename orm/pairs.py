"""Bradley-Terry preference pairs: two solutions to one prompt, the better one first.

Public: `PreferencePair`, `read_pairs`.

On disk a pair is one JSON line `{"prompt": str, "chosen": [str, ...], "rejected": [str, ...]}`
(steps as lists, as in the step-wise format's `completions`), plus an optional `id`; other
keys go to `meta`. `prm train --objective bradley_terry` trains the outcome head so that
r(chosen) > r(rejected).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class PreferencePair:
    """prompt: the question; chosen / rejected: the steps of the better / worse solution."""

    prompt: str
    chosen: tuple[str, ...]
    rejected: tuple[str, ...]
    id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise ValueError(f"prompt must be a str, got {type(self.prompt).__name__}")
        for name in ("chosen", "rejected"):
            steps = getattr(self, name)
            if isinstance(steps, str) or not isinstance(steps, Sequence):
                raise ValueError(f"{name} must be a list of steps (str), got {type(steps).__name__}")
            steps = tuple(steps)
            if not steps or not all(isinstance(s, str) for s in steps):
                raise ValueError(f"{name} must be a non-empty list of str steps, got {steps!r}")
            object.__setattr__(self, name, steps)

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"prompt": self.prompt, "chosen": list(self.chosen), "rejected": list(self.rejected)}
        if self.id is not None:
            row["id"] = self.id
        for key, value in self.meta.items():
            row.setdefault(key, value)
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "PreferencePair":
        """Inverse of `to_dict`; raises ValueError naming a missing or bad field."""
        for key in ("prompt", "chosen", "rejected"):
            if key not in row:
                raise ValueError(f"missing field {key!r} (a pair has prompt, chosen, rejected)")
        known = {"prompt", "chosen", "rejected", "id"}
        return cls(
            prompt=row["prompt"],
            chosen=row["chosen"],
            rejected=row["rejected"],
            id=None if row.get("id") is None else str(row["id"]),
            meta={k: v for k, v in row.items() if k not in known},
        )


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """Pairs from a JSON-lines file; a bad line raises naming the file and the line."""
    path = Path(path)
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                pairs.append(PreferencePair.from_dict(row))
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: {error}") from None
    return pairs
