"""prm.dense_rewards: step rewards on the policy's tokens, min-form (PURE) and sum-form credit."""

from __future__ import annotations

import pytest
import torch

from prm.dense_rewards import (
    dense_step_rewards,
    min_form_returns,
    place_step_rewards,
    returns_to_go,
    step_end_positions,
    token_rewards,
)
from prm.rewards import StepReward
from prm.steps import MATH_SHEPHERD, StepFormat
from prm.testing import tiny_tokenizer

# Three steps ending at tokens 1, 4 and 6 of an 8-token completion (token 7: EOS, say).
STEP_REWARDS, ENDS, LENGTH = [0.9, 0.3, 0.7], [1, 4, 6], 8


def test_sum_form_by_hand():
    rewards = place_step_rewards(STEP_REWARDS, ENDS, LENGTH, credit="sum")
    assert rewards.tolist() == pytest.approx([0, 0.9, 0, 0, 0.3, 0, 0.7, 0])
    assert returns_to_go(rewards).tolist() == pytest.approx([1.9, 1.9, 1.0, 1.0, 1.0, 0.7, 0.7, 0.0])


def test_min_form_by_hand():
    # suffix minima m = (0.3, 0.3, 0.7); placed m_k - m_{k+1} = (0.0, -0.4, 0.7).
    rewards = place_step_rewards(STEP_REWARDS, ENDS, LENGTH, credit="min")
    assert rewards.tolist() == pytest.approx([0, 0, 0, 0, -0.4, 0, 0.7, 0])
    expected = [0.3, 0.3, 0.3, 0.3, 0.3, 0.7, 0.7, 0.0]
    assert returns_to_go(rewards).tolist() == pytest.approx(expected)
    assert min_form_returns(STEP_REWARDS, ENDS, LENGTH).tolist() == pytest.approx(expected)


def test_min_form_returns_match_the_definition_on_random_cases():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        length = int(torch.randint(1, 30, (1,), generator=generator))
        count = int(torch.randint(0, length + 1, (1,), generator=generator))
        ends = sorted(torch.randperm(length, generator=generator)[:count].tolist())
        values = torch.rand(count, generator=generator).tolist()
        placed = returns_to_go(place_step_rewards(values, ends, length, "min"))
        assert torch.allclose(placed, min_form_returns(values, ends, length), atol=1e-6)
        assert all(0.0 <= g <= 1.0 for g in placed.tolist())  # within the PRM's own range


def test_a_batch_is_right_padded():
    out = token_rewards([[0.5], [0.2, 0.8], []], [[2], [0, 1], []], [3, 2, 0], credit="min")
    assert out.shape == (3, 3) and out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([[0, 0, 0.5], [-0.6, 0.8, 0], [0, 0, 0]]))


@pytest.mark.parametrize(
    ("rewards", "ends", "length", "credit", "match"),
    [
        ([0.5], [1, 2], 4, "min", "1 step rewards but 2 step ends"),
        ([0.5, 0.5], [2, 2], 4, "min", "increasing token indices in"),
        ([0.5], [4], 4, "min", r"in \[0, 4\)"),
        ([0.5], [1], 4, "gamma", "unknown credit form 'gamma'"),
    ],
)
def test_bad_inputs(rewards, ends, length, credit, match):
    with pytest.raises(ValueError, match=match):
        place_step_rewards(rewards, ends, length, credit)


class CharTokenizer:
    """One token per character; id 0 is a special EOS that decodes to nothing when skipped."""

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids, skip_special_tokens=False):
        return "".join(("" if skip_special_tokens else "<eos>") if i == 0 else chr(i) for i in ids)


def test_step_ends_on_one_token_per_character():
    tokenizer = CharTokenizer()
    text = "ab\n\n\n\ncd  \n\ne"
    ids = tokenizer.encode(text) + [0]
    # steps "ab", "cd", "e" end at characters 1, 7 and 12; "  " after cd is not part of it
    assert step_end_positions(ids, tokenizer, StepFormat()) == [1, 7, 12]
    assert step_end_positions(tokenizer.encode("ab\ncd"), tokenizer, MATH_SHEPHERD) == [1, 4]
    assert step_end_positions([0], tokenizer, StepFormat()) == []


def test_step_ends_on_a_bpe_tokenizer():
    tokenizer = tiny_tokenizer()
    text = "3 + 4 = 7.\n\nThe answer is 7.\n\nSo 7."
    ids = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
    positions = step_end_positions(ids, tokenizer, StepFormat())
    assert len(positions) == 3
    for step_end, position in zip(["3 + 4 = 7.", "The answer is 7.", "So 7."], positions):
        target = text.index(step_end) + len(step_end)
        assert len(tokenizer.decode(ids[: position + 1])) >= target > len(tokenizer.decode(ids[:position]))


class ScriptedScorer:
    step_format = StepFormat()

    def score_steps(self, prompts, steps):
        return [[{"ab": 0.9, "cd": 0.3, "e": 0.7}[s] for s in solution] for solution in steps]


def test_dense_step_rewards_end_to_end():
    tokenizer = CharTokenizer()
    reward = StepReward(ScriptedScorer())
    ids = [tokenizer.encode("ab\n\ncd\n\ne") + [0], tokenizer.encode("cd")]
    out = dense_step_rewards(reward, ["q", "q"], ids, tokenizer, credit="min")
    assert out.shape == (2, 10)
    assert out[0].tolist() == pytest.approx([0, 0, 0, 0, 0, -0.4, 0, 0, 0.7, 0])
    assert returns_to_go(out[0])[0].item() == pytest.approx(0.3)
    assert out[1].tolist() == pytest.approx([0, 0.3] + [0] * 8)
    summed = dense_step_rewards(reward, ["q", "q"], ids, tokenizer, credit="sum")
    assert returns_to_go(summed[0])[0].item() == pytest.approx(1.9)
