"""A scripted generation engine for tests: returns fixed text, honours stop strings.

Public: `ScriptedEngine`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from prm.engines.base import Completion, SamplingConfig

Script = Callable[[str, int], str] | Mapping[str, Sequence[str]]


class ScriptedEngine:
    """Completion j of a prompt is `script(prompt, j)`, or `script[prompt][j % len]`.

    Stop strings cut the text at their first occurrence (the stop string itself is dropped, as
    vLLM does); max_new_tokens counts whitespace-separated words. `calls` records every
    (prompt, n) asked for, `rows_per_call` the rows (prompts x n) of every generate call (as
    `TransformersEngine` does), and `generated_tokens` the total, so tests can check accounting
    and batching.
    """

    def __init__(self, script: Script):
        self._script = script
        self.calls: list[tuple[str, int]] = []
        self.rows_per_call: list[int] = []
        self.generated_tokens = 0

    def _text(self, prompt: str, index: int) -> str:
        if callable(self._script):
            return self._script(prompt, index)
        if prompt not in self._script:
            raise KeyError(f"ScriptedEngine has no script for prompt {prompt[:80]!r}")
        options = self._script[prompt]
        return options[index % len(options)]

    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """Scripted completions; `seeds` (one per prompt) are accepted and ignored."""
        results = []
        self.rows_per_call.append(len(prompts) * sampling.n)
        for prompt in prompts:
            self.calls.append((prompt, sampling.n))
            completions = []
            for index in range(sampling.n):
                completions.append(self._complete(self._text(prompt, index), sampling))
            results.append(completions)
        return results

    def _complete(self, text: str, sampling: SamplingConfig) -> Completion:
        hits = [(text.find(s), s) for s in sampling.stop if s in text]
        stop_string = None
        if hits:
            cut, stop_string = min(hits)
            text = text[:cut]
        words = text.split(" ")
        finish = "stop"
        if len(words) > sampling.max_new_tokens:
            text, finish, stop_string = " ".join(words[: sampling.max_new_tokens]), "length", None
        num_tokens = min(len(words), sampling.max_new_tokens)
        self.generated_tokens += num_tokens
        return Completion(text=text, num_tokens=num_tokens, finish_reason=finish, stop_string=stop_string)
