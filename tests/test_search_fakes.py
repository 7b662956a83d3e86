"""Fakes shared by the search tests (this module holds no tests itself).

A grader on plain strings, an answer extractor for "answer is X", a keyword PRM and ORM, and an
engine wrapper that counts `generate` calls. They stand in for prm.grading and prm.scoring so
the search tests do not depend on them.
"""

from __future__ import annotations

import re
from typing import Sequence

from prm.engines.base import SamplingConfig
from prm.records import Verdict


def extract_answer(text: str) -> str | None:
    match = re.findall(r"answer is (\S+)", text)
    return match[-1].rstrip(".") if match else None


def grade(gold: str, pred: str) -> Verdict:
    if pred == "?":
        return Verdict.UNGRADABLE
    return Verdict.CORRECT if gold.strip() == pred.strip() else Verdict.INCORRECT


class KeywordPRM:
    """Step score 0.9 for a step containing "good", 0.2 for "bad", else 0.5; records calls."""

    def __init__(self):
        self.calls: list[list[tuple[str, tuple[str, ...]]]] = []

    def score_steps(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        self.calls.append([(p, tuple(s)) for p, s in zip(prompts, steps)])
        return [[_step_score(step) for step in solution] for solution in steps]


class KeywordORM:
    def score_outcomes(self, prompts, steps) -> list[float]:
        return [min((_step_score(s) for s in solution), default=0.0) for solution in steps]


def _step_score(step: str) -> float:
    return 0.9 if "good" in step else 0.2 if "bad" in step else 0.5


class CountingEngine:
    """Wraps an engine and records each generate call's prompts and SamplingConfig."""

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[tuple[list[str], SamplingConfig]] = []

    def generate(self, prompts, sampling):
        self.calls.append((list(prompts), sampling))
        return self.engine.generate(prompts, sampling)
