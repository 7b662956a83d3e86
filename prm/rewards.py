"""Reward functions for RL trainers: a reward model or the grader as a TRL `reward_funcs` callable.

Public: `completion_text`, `prompt_text`, `StepReward`, `OutcomeReward`, `VerifiableReward`,
`WeightedReward`, `load_device`.

Each reward is a callable in the convention of TRL's `GRPOTrainer(reward_funcs=...)`:
`reward(prompts=[...], completions=[...], **columns) -> list[float]`, one reward per
(prompt, completion) pair, in order. Prompts and completions are plain strings or chat
messages (lists of `{"role", "content"}` dicts; the content is read, the roles dropped). Any
other dataset column arrives as a keyword holding one value per completion (TRL repeats each
row for its generations); `VerifiableReward` reads the gold answer from one of them. Extra
keywords (TRL passes `completion_ids`, `trainer_state`, `log_metric`, ...) are ignored.

- `StepReward`: a reward-model folder's step head; each completion is split into steps with
  the folder's own `StepFormat` (blank steps dropped), all completions are scored in batched,
  length-sorted forwards on the scorer's device, and the step probabilities are aggregated
  (min, prod, last or mean; see `prm.scores.aggregate`).
- `OutcomeReward`: the same folder's outcome head (the probability the answer is correct).
- `VerifiableReward`: 1.0 where the safe grader (`prm.grading.Grader`) finds the completion's
  final answer equal to the gold answer, 0.0 otherwise (UNGRADABLE has its own value). Model
  text is never evaluated.
- `WeightedReward`: sum_i weight_i * reward_i of any of these (or any TRL reward callable).

A completion with no non-blank step gets `empty_reward` without touching the model.
For one reward per step placed on the policy's tokens (PPO-style trainers) see
`prm.dense_rewards`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from prm.scores import AGGREGATIONS, aggregate
from prm.steps import StepFormat

RewardCallable = Callable[..., list[float]]


def _content(value: Any, what: str, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    if isinstance(value, (list, tuple)) and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in value):
        return "\n".join(m["content"] for m in value)
    raise ValueError(
        f"{what}[{index}] is {type(value).__name__}; give a str or chat messages "
        "(a list of {'role': ..., 'content': str} dicts)"
    )


def completion_text(completion: Any, index: int = 0) -> str:
    """The text of one completion: a str, or the contents of its chat messages joined by newlines."""
    return _content(completion, "completions", index)


def prompt_text(prompt: Any, index: int = 0) -> str:
    """The text of one prompt: a str, or the content of its last user message (the problem;
    system prompts and earlier turns are the policy's context, not the reward model's)."""
    if isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, dict) for m in prompt):
        users = [m for m in prompt if m.get("role") == "user"]
        if users:
            return _content(users[-1], "prompts", index)
    return _content(prompt, "prompts", index)


def _check_pairs(prompts: Sequence[Any], completions: Sequence[Any]) -> None:
    if isinstance(prompts, str) or isinstance(completions, str):
        raise ValueError("prompts and completions are lists (one entry per completion), not a str")
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions; give one prompt per completion")


def load_device(device: str) -> str:
    """"auto" -> "cuda" where a GPU is visible, else "cpu"; any other name is returned as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _ModelReward:
    """What StepReward and OutcomeReward share: a scorer, its step format, text -> steps."""

    head = ""

    def __init__(self, scorer: Any, step_format: StepFormat | None = None, empty_reward: float = 0.0,
                 name: str | None = None) -> None:
        self.scorer = scorer
        self.step_format = step_format if step_format is not None else getattr(scorer, "step_format", None)
        if not isinstance(self.step_format, StepFormat):
            raise ValueError(
                f"{type(self).__name__} needs the reward model's StepFormat: the scorer has none, pass step_format="
            )
        self.empty_reward = float(empty_reward)
        # TRL names a reward callable by __name__ in its logs (rewards/<name>/mean).
        self.__name__ = name or type(self).__name__

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu", batch_size: int = 8,
                        max_length: int | None = None, **options: Any):
        """From a folder written by `prm train`; device "auto" picks a GPU where there is one.

        A completion longer than max_length keeps the scores of the steps that fit and repeats
        the last one (overflow="repeat_last"): a policy's output must never stop training.
        """
        from prm.scoring import PRMScorer

        scorer = PRMScorer.from_pretrained(directory, device=load_device(device), batch_size=batch_size,
                                           max_length=max_length, overflow="repeat_last")
        return cls(scorer, **options)

    def split(self, prompts: Sequence[Any], completions: Sequence[Any]) -> tuple[list[str], list[list[str]]]:
        """(prompt texts, step lists) of the pairs, steps split with the model's StepFormat."""
        _check_pairs(prompts, completions)
        texts = [prompt_text(p, i) for i, p in enumerate(prompts)]
        steps = [self.step_format.split(completion_text(c, i), drop_empty=True) for i, c in enumerate(completions)]
        return texts, steps

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        texts, steps = self.split(prompts, completions)
        rewards = [self.empty_reward] * len(texts)
        kept = [i for i, s in enumerate(steps) if s]
        if kept:
            for index, value in zip(kept, self._score([texts[i] for i in kept], [steps[i] for i in kept])):
                rewards[index] = float(value)
        return rewards

    def _score(self, prompts: list[str], steps: list[list[str]]) -> list[float]:
        raise NotImplementedError


class StepReward(_ModelReward):
    """A reward model's step head as a GRPO reward: aggregate(step probabilities, aggregation).

    scorer: a `prm.scores.StepScorer` (e.g. `prm.scoring.PRMScorer`); step_format: how
    completions split into steps (default: the scorer's own). empty_reward: for a completion
    with no non-blank step.
    """

    def __init__(self, scorer: Any, aggregation: str = "min", step_format: StepFormat | None = None,
                 empty_reward: float = 0.0, name: str | None = None) -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        self.aggregation = aggregation
        super().__init__(scorer, step_format, empty_reward, name or f"prm_{aggregation}")

    def step_scores(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[list[float]]:
        """Per completion: one probability per non-blank step ([] for an empty completion)."""
        texts, steps = self.split(prompts, completions)
        scores: list[list[float]] = [[] for _ in texts]
        kept = [i for i, s in enumerate(steps) if s]
        if kept:
            for index, probs in zip(kept, self.scorer.score_steps([texts[i] for i in kept], [steps[i] for i in kept])):
                scores[index] = list(probs)
        return scores

    def _score(self, prompts: list[str], steps: list[list[str]]) -> list[float]:
        return [aggregate(probs, self.aggregation) for probs in self.scorer.score_steps(prompts, steps)]


class OutcomeReward(_ModelReward):
    """A reward model's outcome head as a GRPO reward: the probability the answer is correct."""

    def __init__(self, scorer: Any, step_format: StepFormat | None = None, empty_reward: float = 0.0,
                 name: str | None = None) -> None:
        super().__init__(scorer, step_format, empty_reward, name or "orm")

    def _score(self, prompts: list[str], steps: list[list[str]]) -> list[float]:
        return list(self.scorer.score_outcomes(prompts, steps))


class VerifiableReward:
    """correct / incorrect / ungradable reward from the safe grader, gold from a dataset column.

    grader: a `prm.grading.Grader` (default: one made here with `workers` processes, closed by
    `close()` or on garbage collection). answer_column: the keyword holding the gold answers,
    one per completion, as TRL passes dataset columns. A missing gold answer (None) is
    ungradable.
    """

    def __init__(self, answer_column: str = "answer", grader: Any = None, correct: float = 1.0,
                 incorrect: float = 0.0, ungradable: float = 0.0, workers: int = 1,
                 name: str = "verifiable") -> None:
        if not isinstance(answer_column, str) or not answer_column:
            raise ValueError(f"answer_column must be a column name, got {answer_column!r}")
        if grader is None:
            from prm.grading import Grader

            grader = Grader(workers=workers)
        self.grader = grader
        self.answer_column = answer_column
        self.values = {"correct": float(correct), "incorrect": float(incorrect), "ungradable": float(ungradable)}
        self.__name__ = name

    def close(self) -> None:
        close = getattr(self.grader, "close", None)
        if callable(close):
            close()

    def verdicts(self, completions: Sequence[Any], answers: Sequence[Any]) -> list[str]:
        """Per completion: "correct", "incorrect" or "ungradable"."""
        if isinstance(completions, str):
            raise ValueError("completions is a list (one entry per completion), not a str")
        if len(answers) != len(completions):
            raise ValueError(
                f"{len(answers)} values in column {self.answer_column!r} for {len(completions)} completions"
            )
        verdicts = []
        for index, (completion, gold) in enumerate(zip(completions, answers)):
            if gold is None:
                verdicts.append("ungradable")
                continue
            result = self.grader.grade_solution(str(gold), completion_text(completion, index))
            verdicts.append(result.verdict.value)
        return verdicts

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        _check_pairs(prompts, completions)
        if self.answer_column not in columns:
            given = ", ".join(sorted(k for k in columns if isinstance(columns[k], (list, tuple)))) or "none"
            raise ValueError(
                f"VerifiableReward reads the gold answer from the dataset column {self.answer_column!r}, "
                f"which was not passed (list columns given: {given}); set answer_column="
            )
        return [self.values[v] for v in self.verdicts(completions, columns[self.answer_column])]


class WeightedReward:
    """sum_i weights[i] * rewards[i](...): one GRPO reward from several (e.g. PRM + grader).

    A reward that gives None for a completion (TRL's "not applicable") makes the sum None there.
    TRL can also weigh separate reward_funcs itself (GRPOConfig.reward_weights) and log each;
    this is for one combined signal (a server, a PPO trainer, a fixed mix).
    """

    def __init__(self, rewards: Sequence[RewardCallable], weights: Sequence[float] | None = None,
                 name: str = "weighted") -> None:
        rewards = list(rewards)
        if not rewards or not all(callable(r) for r in rewards):
            raise ValueError("WeightedReward needs a non-empty list of reward callables")
        weights = [1.0] * len(rewards) if weights is None else [float(w) for w in weights]
        if len(weights) != len(rewards):
            raise ValueError(f"{len(weights)} weights for {len(rewards)} rewards; give one weight per reward")
        self.rewards, self.weights = rewards, weights
        self.__name__ = name

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        _check_pairs(prompts, completions)
        total: list[float | None] = [0.0] * len(completions)
        for reward, weight in zip(self.rewards, self.weights):
            values = reward(prompts=prompts, completions=completions, **columns)
            if len(values) != len(completions):
                name = getattr(reward, "__name__", type(reward).__name__)
                raise ValueError(f"reward {name!r} gave {len(values)} values for {len(completions)} completions")
            total = [None if t is None or v is None else t + weight * float(v) for t, v in zip(total, values)]
        return total
