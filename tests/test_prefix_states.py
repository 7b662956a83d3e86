"""PRMScorer.start/extend: a prefix grown from its KV cache scores as the whole prefix read again."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import BertConfig, BertModel

from prm.modeling import RewardConfig, RewardModel
from prm.modeling.reward_model import add_step_tag
from prm.scores import ExtendingStepScorer
from prm.scoring import PRMScorer
from prm.steps import MATH_SHEPHERD, EncodedSolution
from prm.testing import tiny_causal_lm, tiny_tokenizer

PROMPTS = ["What is 3 + 4?", "Tom has 12 apples and gives away 5. How many are left?", "What is 6 * 7?"]
WORDS = "3 + 4 = 7 . The answer is so then apples left 12 - 5 Tom has".split()


def _scorer(padding_side="right", step_format=None, cls=PRMScorer, **kwargs):
    tokenizer = tiny_tokenizer(padding_side)
    config = RewardConfig() if step_format is None else RewardConfig(step_format=step_format)
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, config)
    with torch.no_grad():  # spread the probabilities away from 0.5
        model.step_head.linear.weight.mul_(8)
    return cls(model, tokenizer, **kwargs)


def _random_steps(rng, count):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(count)]


def _assert_scores_close(extensions, full):
    assert [len(e.step_scores) for e in extensions] == [len(f) for f in full]
    for extension, expected in zip(extensions, full):
        assert extension.step_scores == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_extending_matches_full_rescoring_and_reads_only_the_new_tokens(padding_side):
    scorer = _scorer(padding_side, batch_size=3)  # 3 rows a forward: pasts of different lengths mix
    assert isinstance(scorer, ExtendingStepScorer) and scorer.can_extend()
    roots = scorer.start(PROMPTS)
    for prompt, root in zip(PROMPTS, roots):
        assert root.step_scores == () and root.tokens_read == len(scorer.encode([prompt], [[]])[0].input_ids)
    rng = random.Random(0)
    states = [root.state for root in roots] * 3  # siblings share one parent
    for _ in range(3):
        new_steps = [_random_steps(rng, rng.choice([1, 1, 2])) for _ in states]
        extensions = scorer.extend(states, new_steps)
        grown = [list(state.steps) + steps for state, steps in zip(states, new_steps)]
        _assert_scores_close(extensions, scorer.score_steps([s.prompt for s in states], grown))
        for state, extension, steps in zip(states, extensions, grown):
            full_ids = scorer.encode([state.prompt], [steps])[0].input_ids
            assert extension.reused and extension.tokens_read == len(full_ids) - len(state.input_ids)
            assert extension.state.input_ids == full_ids
        states = [e.state for e in extensions]


class _StringEncodedScorer(PRMScorer):
    """Encodes the tagged text as ONE string, as string-based PRM conventions do, so byte-level
    BPE may merge tokens across a step boundary (here the prompt suffix " " joins the first
    word of the first step: " 3" is one token)."""

    def encode(self, prompts, steps):
        encoded = []
        for prompt, solution in zip(prompts, steps):
            text, ends = prompt + self.step_format.prompt_suffix, []
            for step in solution:
                text += step + self.step_format.tag
                ends.append(len(text))
            tokens = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
            offsets = tokens["offset_mapping"]
            positions = tuple(max(i for i, (start, _) in enumerate(offsets) if start < end) for end in ends)
            encoded.append(EncodedSolution(tuple(tokens["input_ids"]), positions, (None,) * len(positions), 0))
        return encoded


def test_a_prefix_whose_tokens_merge_across_the_boundary_is_read_again_and_counted():
    scorer = _scorer(step_format=MATH_SHEPHERD, cls=_StringEncodedScorer, batch_size=4)
    steps = [["3 + 4 = 7.", "The answer is 7."], ["12 - 5 = 7.", "So 7 apples left."], ["6 * 7 = 42.", "The answer is 42."]]
    states = [root.state for root in scorer.start(PROMPTS)]
    reused = []
    for depth in range(2):
        extensions = scorer.extend(states, [[s[depth]] for s in steps])
        grown = [[*s[: depth + 1]] for s in steps]
        _assert_scores_close(extensions, scorer.score_steps(PROMPTS, grown))
        for state, extension, solution in zip(states, extensions, grown):
            full_ids = scorer.encode([state.prompt], [solution])[0].input_ids
            extends = full_ids[: len(state.input_ids)] == state.input_ids
            assert extension.reused == extends
            assert extension.tokens_read == (len(full_ids) - len(state.input_ids) if extends else len(full_ids))
            reused.append(extension.reused)
        states = [e.state for e in extensions]
    # " 3", " 1" and " 6" merge with the prompt suffix: the first steps are read again, the
    # second steps (after " ки") extend their parents' caches.
    assert reused == [False, False, False, True, True, True]


def test_a_prefix_over_max_length_takes_the_full_path_and_its_overflow_rule():
    long_step = "3 + 4 = 7 . The answer is 7 so then 12 - 5 = 7"
    scorer = _scorer(max_length=40, overflow="repeat_last")
    state = scorer.start(PROMPTS[:1])[0].state
    extensions = []
    for _ in range(4):
        extensions.append(scorer.extend([state], [[long_step]])[0])
        state = extensions[-1].state
    full = scorer.score_steps(PROMPTS[:1], [[long_step] * 4])[0]
    assert extensions[-1].step_scores == pytest.approx(full, abs=1e-5)
    assert [e.reused for e in extensions][:1] == [True] and not extensions[-1].reused
    strict = _scorer(max_length=40)
    with pytest.raises(ValueError, match="does not fit max_length=40"):
        strict.extend([strict.start(PROMPTS[:1])[0].state], [[long_step] * 4])


def test_extend_names_bad_input():
    scorer = _scorer()
    root = scorer.start(PROMPTS[:1])[0].state
    with pytest.raises(ValueError, match="1 states but 2 step lists"):
        scorer.extend([root], [["a"], ["b"]])
    with pytest.raises(ValueError, match="non-empty list of steps"):
        scorer.extend([root], ["a step, not a list"])


def test_the_probe_refuses_a_model_that_is_not_causal():
    tokenizer = tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer) + 1, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64)
    backbone = BertModel(config)
    add_step_tag(tokenizer, backbone, RewardConfig().step_format)
    scorer = PRMScorer(RewardModel(backbone), tokenizer)
    assert not scorer.can_extend()
    assert "not a causal model" in scorer._extender.unsupported_reason
