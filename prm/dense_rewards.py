"""Dense step rewards on a policy's tokens for PPO-style trainers, with min- or sum-form credit.

Public: `CREDIT_FORMS`, `step_end_positions`, `place_step_rewards`, `token_rewards`,
`returns_to_go`, `min_form_returns`, `dense_step_rewards`.

`dense_step_rewards(reward, prompts, completion_ids, tokenizer)` does it all for a batch: decode
the policy's tokens, score the steps with a `prm.rewards.StepReward`, find each step's last
token and place the rewards.

A completion of `length` tokens has K steps; step k (0-based) ends at token `ends[k]`
(increasing) and has reward r_k (a PRM's step probability, say). A PPO trainer with gamma = 1
gives token t the return G_t = sum of token rewards at positions >= t. Two ways to turn step
rewards into token rewards:

- sum form (the canonical one): r_k at token ends[k], zero elsewhere, so
  G_t = sum_{k : ends[k] >= t} r_k. A policy raises its return by adding steps the PRM likes.
- min form (PURE, Cheng et al. 2025, "Stop Summation: Min-Form Credit Assignment Is All
  Process Reward Model Needs for Reasoning", arXiv:2504.15275): the value of a state is the
  minimum of the future step rewards, G_t = min_{k : ends[k] >= t} r_k, so a return never
  exceeds the worst step still to come and lies in the PRM's own range. It is placed here as
  token rewards (m_k - m_{k+1}) at ends[k], where m_k = min_{j >= k} r_j and m_K = 0; their
  gamma = 1 sum from any t is exactly the min-form return (a telescoping sum). PURE's own code
  approximates the min by re-weighting the step rewards with softmax(-r / T); this is the
  T -> 0 limit, exact, with no temperature to tune.

Tokens after the last step's end get return 0 in both forms (nothing left to reward); tokens
of step k, from ends[k-1] + 1 to ends[k], share step k's return.

Tensor shapes: per completion, token rewards are (length,); `token_rewards` returns
(batch, length) float32, right-padded with zeros past each completion's own length.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from prm.steps import StepFormat

CREDIT_FORMS = ("min", "sum")


def _check_steps(step_rewards: Sequence[float], ends: Sequence[int], length: int) -> None:
    if len(step_rewards) != len(ends):
        raise ValueError(f"{len(step_rewards)} step rewards but {len(ends)} step ends; give one end per step")
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be an int >= 0, got {length!r}")
    previous = -1
    for end in ends:
        if not isinstance(end, int) or not previous < end < length:
            raise ValueError(f"step ends must be increasing token indices in [0, {length}), got {list(ends)}")
        previous = end


def place_step_rewards(step_rewards: Sequence[float], ends: Sequence[int], length: int,
                       credit: str = "min") -> torch.Tensor:
    """Token rewards (length,) of one completion: one value per step at the step's last token.

    credit "sum": r_k at ends[k]. credit "min": m_k - m_{k+1} at ends[k] (see the module
    docstring), so that `returns_to_go` of the result is the min-form return.
    """
    if credit not in CREDIT_FORMS:
        raise ValueError(f"unknown credit form {credit!r}; choose one of {', '.join(CREDIT_FORMS)}")
    _check_steps(step_rewards, ends, length)
    rewards = torch.zeros(length, dtype=torch.float32)
    values = [float(r) for r in step_rewards]
    if credit == "min":
        suffix_min = values[:]
        for k in range(len(values) - 2, -1, -1):
            suffix_min[k] = min(values[k], suffix_min[k + 1])
        values = [m - (suffix_min[k + 1] if k + 1 < len(values) else 0.0) for k, m in enumerate(suffix_min)]
    for end, value in zip(ends, values):
        rewards[end] = value
    return rewards


def returns_to_go(rewards: torch.Tensor) -> torch.Tensor:
    """Undiscounted returns: out[..., t] = sum of rewards[..., t:]. rewards: (..., length)."""
    return rewards.flip(-1).cumsum(-1).flip(-1)


def min_form_returns(step_rewards: Sequence[float], ends: Sequence[int], length: int) -> torch.Tensor:
    """(length,) min-form returns computed directly: min of the rewards of steps ending at or
    after each token, 0 after the last step (the definition `place_step_rewards` must match)."""
    _check_steps(step_rewards, ends, length)
    returns = torch.zeros(length, dtype=torch.float32)
    start = 0
    for k, end in enumerate(ends):
        returns[start : end + 1] = min(float(r) for r in step_rewards[k:])
        start = end + 1
    return returns


def token_rewards(step_rewards: Sequence[Sequence[float]], ends: Sequence[Sequence[int]],
                  lengths: Sequence[int], credit: str = "min") -> torch.Tensor:
    """(batch, max(lengths)) float32 token rewards of a batch, right-padded with zeros."""
    if not len(step_rewards) == len(ends) == len(lengths):
        raise ValueError(f"{len(step_rewards)} step-reward lists, {len(ends)} end lists, {len(lengths)} lengths")
    out = torch.zeros(len(lengths), max(lengths, default=0), dtype=torch.float32)
    for row, (rewards, row_ends, length) in enumerate(zip(step_rewards, ends, lengths)):
        out[row, :length] = place_step_rewards(rewards, row_ends, length, credit)
    return out


def _step_char_ends(text: str, step_format: StepFormat) -> list[int]:
    """Character index one past each non-blank step's last non-space character, matching
    `step_format.split(text, drop_empty=True)` step for step."""
    ends, start = [], 0
    for piece in text.split(step_format.delimiter):
        stripped = piece.rstrip()
        if stripped.strip():
            ends.append(start + len(stripped))
        start += len(piece) + len(step_format.delimiter)
    return ends


def step_end_positions(completion_ids: Sequence[int], tokenizer: Any, step_format: StepFormat) -> list[int]:
    """Per non-blank step of the decoded completion (as `split(..., drop_empty=True)` gives
    them): the index in completion_ids of the token that completes the step's last character.

    Works on the trainer's own token ids (no re-tokenization): a binary search over decoded
    prefix lengths, O(K log n) decodes. A token that spans a step's end (a merged "7.\\n")
    ends that step; two steps ending in one token keep distinct, increasing positions by
    moving the later one on where possible; steps left without a token of their own are
    dropped from the end (fewer positions than steps; `dense_step_rewards` folds them in).
    """
    ids = list(completion_ids)
    text = tokenizer.decode(ids, skip_special_tokens=True)
    char_ends = _step_char_ends(text, step_format)
    cache: dict[int, int] = {}

    def decoded_length(count: int) -> int:
        if count not in cache:
            cache[count] = len(tokenizer.decode(ids[:count], skip_special_tokens=True))
        return cache[count]

    positions: list[int] = []
    for char_end in char_ends:
        low, high = 1, len(ids)
        while low < high:  # smallest prefix whose text reaches char_end
            middle = (low + high) // 2
            if decoded_length(middle) >= char_end:
                high = middle
            else:
                low = middle + 1
        position = low - 1
        if positions and position <= positions[-1]:
            position = positions[-1] + 1
        if position >= len(ids):
            break
        positions.append(position)
    return positions


def dense_step_rewards(reward: Any, prompts: Sequence[Any], completion_ids: Sequence[Sequence[int]],
                       tokenizer: Any, credit: str = "min") -> torch.Tensor:
    """(batch, max completion length) float32 token rewards of a batch of policy completions.

    reward: a `prm.rewards.StepReward` (its `step_scores` and `step_format` are used);
    completion_ids: the policy's tokens per completion (prompt excluded), decoded with the
    policy's `tokenizer` (special tokens such as EOS skipped). Steps that share a last token
    with an earlier one (see `step_end_positions`) are folded into the last step that has a
    token: their min (credit "min") or sum (credit "sum") with it, so the returns still cover
    every step.
    """
    if credit not in CREDIT_FORMS:
        raise ValueError(f"unknown credit form {credit!r}; choose one of {', '.join(CREDIT_FORMS)}")
    if len(prompts) != len(completion_ids):
        raise ValueError(f"{len(prompts)} prompts but {len(completion_ids)} completions")
    texts = [tokenizer.decode(list(ids), skip_special_tokens=True) for ids in completion_ids]
    scores = reward.step_scores(prompts, texts)
    all_ends, all_rewards = [], []
    for ids, step_scores in zip(completion_ids, scores):
        ends = step_end_positions(ids, tokenizer, reward.step_format)
        kept = list(step_scores[: len(ends)])
        if kept and len(step_scores) > len(ends):
            rest = [kept[-1], *step_scores[len(ends):]]
            kept[-1] = min(rest) if credit == "min" else sum(rest)
        all_ends.append(ends)
        all_rewards.append(kept)
    return token_rewards(all_rewards, all_ends, [len(ids) for ids in completion_ids], credit)
