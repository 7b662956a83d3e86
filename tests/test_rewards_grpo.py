"""A few GRPO steps of TRL's GRPOTrainer on a tiny in-process policy, rewarded by this toolkit.

The reward must be computed on the trainer's own completions (the texts TRL decoded from the
completion ids it trained on), the gold answer must arrive from the dataset column, and the
mean TRL logs must be the mean of what the reward returned.
"""

from __future__ import annotations

import pytest
import torch

from prm.dense_rewards import dense_step_rewards
from prm.grading import GradeResult, Verdict
from prm.modeling import RewardConfig, RewardModel
from prm.rewards import StepReward, VerifiableReward
from prm.testing import tiny_causal_lm, tiny_tokenizer

trl = pytest.importorskip("trl", reason="TRL is in the test extra: pip install -e '.[test]'")
datasets = pytest.importorskip("datasets")


class Recording:
    """Wraps a reward callable; keeps every call's keywords and returned values."""

    def __init__(self, reward):
        self.reward, self.calls = reward, []
        self.__name__ = reward.__name__

    def __call__(self, prompts, completions, **columns):
        values = self.reward(prompts=prompts, completions=completions, **columns)
        self.calls.append({"prompts": list(prompts), "completions": list(completions), "values": list(values), **columns})
        return values


class GoldEchoGrader:
    """Correct when the completion contains the gold answer; records the gold answers seen."""

    def __init__(self):
        self.golds = []

    def grade_solution(self, gold, text):
        self.golds.append(gold)
        return GradeResult(Verdict.CORRECT if gold in text else Verdict.INCORRECT, "scripted")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")
def test_grpo_trains_a_few_steps_on_the_toolkit_reward(tmp_path):
    rm_tokenizer = tiny_tokenizer()
    rm = RewardModel.from_causal_lm(tiny_causal_lm(rm_tokenizer, seed=3), rm_tokenizer, RewardConfig(trained_heads=("step",)))
    with torch.no_grad():
        rm.step_head.linear.weight.mul_(8)
    rm.save_pretrained(tmp_path / "rm", rm_tokenizer)
    step_reward = Recording(StepReward.from_pretrained(tmp_path / "rm", aggregation="min", batch_size=4))
    grader = GoldEchoGrader()
    verifiable = Recording(VerifiableReward("answer", grader=grader))

    policy_tokenizer = tiny_tokenizer(padding_side="left")
    policy = tiny_causal_lm(policy_tokenizer, seed=0)
    before = [p.detach().clone() for p in policy.parameters()]
    dataset = datasets.Dataset.from_dict(
        {"prompt": ["What is 3 + 4?", "What is 6 * 7?"] * 2, "answer": ["7", "42"] * 2}
    )
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
        max_completion_length=12, max_steps=2, learning_rate=1e-2, report_to="none", use_cpu=True,
        logging_steps=1, save_strategy="no", dataloader_num_workers=0, bf16=False, seed=0,
        reward_weights=[1.0, 0.5],
    )
    trainer = trl.GRPOTrainer(model=policy, reward_funcs=[step_reward, verifiable], args=args,
                              train_dataset=dataset, processing_class=policy_tokenizer)
    trainer.train()

    assert trainer.state.global_step == 2
    assert len(step_reward.calls) == 2 and len(verifiable.calls) == 2
    logs = [row for row in trainer.state.log_history if "rewards/prm_min/mean" in row]
    assert len(logs) == 2
    for call, log in zip(step_reward.calls, logs):
        # the trainer's completions are what TRL decoded from the ids it trains on
        decoded = [policy_tokenizer.decode(ids, skip_special_tokens=True) for ids in call["completion_ids"]]
        assert call["completions"] == decoded and len(decoded) == 4
        assert all(0.0 <= v <= 1.0 for v in call["values"])
        assert log["rewards/prm_min/mean"] == pytest.approx(sum(call["values"]) / 4, abs=1e-5)
        # dense step rewards on the same ids: a min-form return at token 0 equals the min aggregate
        dense = dense_step_rewards(step_reward.reward, call["prompts"], call["completion_ids"], policy_tokenizer)
        assert dense.shape == (4, max(len(ids) for ids in call["completion_ids"]))
        for row, value, completion in zip(dense, call["values"], call["completions"]):
            if completion.strip():
                assert row.sum().item() == pytest.approx(value, abs=1e-5)
    assert grader.golds == [a for call in verifiable.calls for a in call["answer"]]
    assert sorted(set(grader.golds)) == ["42", "7"]
    changed = any(not torch.equal(b, p.detach()) for b, p in zip(before, policy.parameters()))
    assert changed, "the policy's parameters did not change in two GRPO steps"
