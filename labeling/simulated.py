"""A simulated policy for the synthetic task (`prm.data.synthetic`), with a known error rate.

Public: `NoisySolverEngine`, `grade_answer_statement`.

`NoisySolverEngine(problems, step_error_rate)` continues any prompt that holds one of the
problems' questions followed by some solution steps: it writes one step per remaining
operation ("12 - 7 = 5.") and then "The answer is 5.". Each operation step is right with
probability 1 - step_error_rate, else its result is off by 1 to 3; later steps compute
correctly from the value written before them (an error is carried forward, as a model does).
So the chance that a rollout from a correct prefix succeeds is known ((1 - rate) ** steps
left), and an erroneous prefix reaches the right answer only when a later error cancels it.
Step truth comes from `prm.data.synthetic.step_truth`. Text is read with integer regexes only;
nothing is evaluated. Benchmarks and the resume test use it; it is not a model.
"""

from __future__ import annotations

import random
import re
import time
from typing import Sequence

from prm.engines.base import Completion, SamplingConfig, row_seed
from prm.records import Problem, Verdict

_RESULT = re.compile(r"=\s*(-?\d+)\.?\s*$")
_ANSWER = re.compile(r"answer is\s*(-?\d+(?:/\d+)?)", re.IGNORECASE)


def grade_answer_statement(gold: str | None, text: str) -> Verdict:
    """Compare the last "answer is N" with the gold answer; UNGRADABLE where there is none."""
    found = _ANSWER.findall(text)
    if gold is None or not found:
        return Verdict.UNGRADABLE
    return Verdict.of(found[-1] == str(gold).strip())


def _apply(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    return value // operand if operand else value


class NoisySolverEngine:
    """A `GenerationEngine` that solves synthetic problems with a known per-step error rate.

    length_rate / ungradable_rate: chance that a completion stops at the length limit / ends
    without an answer statement. call_seconds: simulated latency per generate call (for the
    kill/resume test). Tokens are whitespace-separated words. Completion j of prompt i depends
    only on (seeds[i], j), or on (sampling.seed, i, j) without seeds.
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        step_error_rate: float = 0.15,
        length_rate: float = 0.0,
        ungradable_rate: float = 0.0,
        delimiter: str = "\n\n",
        call_seconds: float = 0.0,
    ):
        for name, value in (
            ("step_error_rate", step_error_rate),
            ("length_rate", length_rate),
            ("ungradable_rate", ungradable_rate),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"NoisySolverEngine.{name} must be in [0, 1], got {value!r}")
        for problem in problems:
            if "operations" not in problem.meta:
                raise ValueError(f"problem {problem.id!r} is not from prm.data.synthetic.make_problems")
        self.problems = list(problems)
        self.step_error_rate = step_error_rate
        self.length_rate = length_rate
        self.ungradable_rate = ungradable_rate
        self.delimiter = delimiter
        self.call_seconds = call_seconds
        self.generated_tokens = 0
        self.calls = 0

    def generate(
        self, prompts: Sequence[str], sampling: SamplingConfig, seeds: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        self.calls += 1
        if self.call_seconds > 0:
            time.sleep(self.call_seconds)
        results = []
        for index, prompt in enumerate(prompts):
            base = seeds[index] if seeds is not None else row_seed(sampling.seed, index)
            problem, written = self._find(prompt)
            results.append(
                [self._complete(problem, written, random.Random(row_seed(base, j)), sampling) for j in range(sampling.n)]
            )
        return results

    def _find(self, prompt: str) -> tuple[Problem, list[str]]:
        for problem in self.problems:
            at = prompt.find(problem.question)
            if at >= 0:
                rest = prompt[at + len(problem.question) :]
                return problem, [p.strip() for p in rest.split(self.delimiter) if p.strip()]
        raise ValueError(f"NoisySolverEngine knows no problem in the prompt {prompt[:80]!r}")

    def _complete(self, problem: Problem, written: list[str], rng: random.Random, sampling: SamplingConfig) -> Completion:
        operations = problem.meta["operations"]
        # The prompt's own preamble (e.g. "Solution:") is not a step: count only equations.
        done = [piece for piece in written if _RESULT.search(piece)]
        value = int(problem.meta["start_value"])
        if done:
            value = int(_RESULT.search(done[-1]).group(1))
        steps = []
        for op, operand in operations[len(done) :]:
            result = _apply(value, op, int(operand))
            if rng.random() < self.step_error_rate:
                result = max(0, result + rng.choice([-3, -2, -1, 1, 2, 3]))
            steps.append(f"{value} {op} {operand} = {result}.")
            value = result
        if rng.random() >= self.ungradable_rate:
            steps.append(f"The answer is {value}.")
        else:
            steps.append("So that is what is left.")
        text = self.delimiter.join(steps)
        finish = "length" if rng.random() < self.length_rate else "stop"
        stop_string = None
        hits = [(text.find(s), s) for s in sampling.stop if s in text]
        if hits and finish == "stop":
            cut, stop_string = min(hits)
            text = text[:cut]
        words = text.split(" ")
        if len(words) > sampling.max_new_tokens:
            text, finish, stop_string = " ".join(words[: sampling.max_new_tokens]), "length", None
        num_tokens = min(len(words), sampling.max_new_tokens)
        self.generated_tokens += num_tokens
        return Completion(text=text, num_tokens=num_tokens, finish_reason=finish, stop_string=stop_string)
