"""GPU checks on the tiny model of `prm.testing` (`benchmarks/gpu_check.sh` runs them).

- A RewardModel in bf16 on CUDA (bf16 weights, or fp32 weights under bf16 autocast) gives the
  fp32 CPU step and outcome scores, loss and step-head gradient within bf16 tolerance.
- PRMScorer on CUDA gives the CPU step scores (fp32: float noise; bf16: bf16 tolerance), for
  right and left padding.
- TransformersEngine on CUDA returns n completions per prompt, honours stop strings, is seeded,
  and decodes greedily as on the CPU, with and without shared prefill.

Each check is a plain function of `device`, listed in CHECKS, run by
`python benchmarks/gpu_check.py --gpu-tests` (no pytest needed; `--device cpu` runs them on the
CPU, with bf16 on the CPU standing in for CUDA's). tests/test_gpu.py runs that command where
there is a CUDA device.
"""

from __future__ import annotations

import copy
import math

import torch

import orm.objectives  # noqa: F401  (registers the joint objective the training check uses)
from prm.engines.base import SamplingConfig
from prm.engines.hf import TransformersEngine, TransformersEngineConfig
from prm.modeling import RewardConfig, RewardModel
from prm.records import StepwiseSolution
from prm.scoring import PRMScorer
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training.collate import IGNORE, RewardCollator, encode_solution
from prm.training.losses import ObjectiveConfig, loss_terms, reduce_terms

PROMPTS = ["What is 3 + 4?", "Tom has 12 apples and gives away 5. How many are left?", "What is 6 * 7?"]
STEPS = [
    ["3 + 4 = 7.", "The answer is 7."],
    ["12 - 5 = 7.", "So 7 apples.", "The answer is 7."],
    ["6 * 7 = 42.", "Then 42 / 2 = 21.", "So the total is 21 and the answer is 21."],
]
LABELS = [(1.0, 1.0), (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)]


def _close(actual, expected, abs_tol: float = 0.0, rel_tol: float = 0.0, what: str = "") -> None:
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} values, expected {len(expected)}"
    for index, (a, e) in enumerate(zip(actual, expected)):
        assert math.isclose(a, e, abs_tol=abs_tol, rel_tol=rel_tol), (
            f"{what}[{index}]: {a} vs {e} (abs_tol {abs_tol}, rel_tol {rel_tol})"
        )


def _reward_model(padding_side: str = "right"):
    tokenizer = tiny_tokenizer(padding_side)
    config = RewardConfig(trained_heads=("step", "outcome"))
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, config)
    with torch.no_grad():  # spread the probabilities away from 0.5, so that a mismatch shows
        model.step_head.linear.weight.mul_(8)
        model.outcome_head.linear.weight.mul_(8)
    return model, tokenizer


def _loss_and_grad(model, batch, device, autocast: bool):
    """Outputs, the joint objective's loss, and the step head's weight gradient (CPU fp32)."""
    model.zero_grad(set_to_none=True)
    batch = {k: v.to(device) for k, v in batch.items()}
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    loss = reduce_terms(loss_terms(ObjectiveConfig("joint"), outputs, batch))
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), f"gradient of {name}"
    return outputs, loss.item(), model.step_head.linear.weight.grad.float().cpu().flatten()


def check_reward_model_bf16_matches_fp32_cpu(mode: str, device: str = "cuda") -> None:
    """mode: "bf16 weights" or "fp32 weights + bf16 autocast"."""
    cpu_model, tokenizer = _reward_model()
    cpu_model.train()
    rows = [
        encode_solution(StepwiseSolution(p, tuple(s), labels), tokenizer, cpu_model.step_format)
        for p, s, labels in zip(PROMPTS, STEPS, LABELS)
    ]
    batch = RewardCollator.for_tokenizer(tokenizer)(rows)
    other = copy.deepcopy(cpu_model).to(device, torch.bfloat16 if mode == "bf16 weights" else torch.float32)
    cpu_out, cpu_loss, cpu_grad = _loss_and_grad(cpu_model, batch, "cpu", autocast=False)
    out, loss, grad = _loss_and_grad(other, batch, device, autocast=mode != "bf16 weights")
    if mode == "bf16 weights":
        assert out.step_logits.dtype == torch.bfloat16
    tags = batch["step_labels"] != IGNORE
    _close(torch.sigmoid(out.step_logits.detach().float().cpu()[tags]).tolist(),
           torch.sigmoid(cpu_out.step_logits.detach()[tags]).tolist(), abs_tol=0.03, what="step scores")
    _close(torch.sigmoid(out.outcome_logits.detach().float().cpu()).tolist(),
           torch.sigmoid(cpu_out.outcome_logits.detach()).tolist(), abs_tol=0.03, what="outcome scores")
    _close([loss], [cpu_loss], rel_tol=0.03, what="loss")
    cosine = float(torch.nn.functional.cosine_similarity(grad, cpu_grad, dim=0))
    assert cosine > 0.98, f"step-head gradient cosine {cosine} with the fp32 CPU gradient"
    _close([float(grad.norm())], [float(cpu_grad.norm())], rel_tol=0.05, what="step-head gradient norm")


def check_prm_scorer_matches_cpu(dtype: str, tolerance: float, padding_side: str, device: str = "cuda") -> None:
    cpu_model, tokenizer = _reward_model(padding_side)
    expected = PRMScorer(cpu_model, tokenizer, batch_size=2).score(zip(PROMPTS, STEPS), aggregation="min")
    model = copy.deepcopy(cpu_model).to(device, getattr(torch, dtype))
    actual = PRMScorer(model, tokenizer, batch_size=2).score(zip(PROMPTS, STEPS), aggregation="min")
    assert [len(s.step_scores) for s in actual] == [len(s) for s in STEPS]
    for index, (got, want) in enumerate(zip(actual, expected)):
        _close(got.step_scores, want.step_scores, abs_tol=tolerance, what=f"solution {index} step scores")
        _close([got.score, got.outcome_score], [want.score, want.outcome_score], abs_tol=tolerance,
               what=f"solution {index} (min score, outcome score)")
    every = [p for s in expected for p in s.step_scores]
    assert max(every) - min(every) > 0.1  # the scores differ, so matching them means something


def check_engine_n_completions_and_stop_strings(device: str = "cuda") -> None:
    tokenizer = tiny_tokenizer()
    model = tiny_causal_lm(tokenizer).eval().to(device)
    assert model.device.type == torch.device(device).type
    engine = TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=4))
    stops = (" ", "\n")
    sampling = SamplingConfig(n=5, temperature=1.0, max_new_tokens=24, stop=stops, seed=3)
    out = engine.generate(PROMPTS, sampling)
    assert [len(row) for row in out] == [5] * len(PROMPTS)
    completions = [c for row in out for c in row]
    for completion in completions:
        assert not any(stop in completion.text for stop in stops), completion
        assert 1 <= completion.num_tokens <= 24, completion
        if completion.stop_string is not None:
            assert completion.finish_reason == "stop" and completion.stop_string in stops, completion
    assert any(c.stop_string is not None for c in completions), "no completion met a stop string"
    assert engine.generate(PROMPTS, sampling) == out, "seeded sampling differs between two calls"
    unstopped = engine.generate(PROMPTS, SamplingConfig(n=5, temperature=1.0, max_new_tokens=24, seed=3))
    for stopped_row, full_row in zip(out, unstopped):
        for stopped, full in zip(stopped_row, full_row):  # a stop cuts the same sample short
            assert full.text.startswith(stopped.text), (stopped, full)


def check_engine_greedy_matches_cpu(device: str = "cuda") -> None:
    tokenizer = tiny_tokenizer()
    cpu_model = tiny_causal_lm(tokenizer).eval()
    model = copy.deepcopy(cpu_model).to(device)
    greedy = SamplingConfig(n=3, temperature=0.0, max_new_tokens=12)
    results = [
        TransformersEngine(model, tokenizer, TransformersEngineConfig(batch_size=size, share_prefill=share))
        .generate(PROMPTS, greedy)
        for share, size in ((True, 8), (False, 8), (True, 2))
    ]
    assert results[0] == results[1] == results[2], "shared prefill or batch size changed greedy output"
    expected = TransformersEngine(cpu_model, tokenizer).generate(PROMPTS, greedy)
    assert [[c.text for c in row] for row in results[0]] == [[c.text for c in row] for row in expected]


# (id, check, arguments): every case, run by `gpu_check.py --gpu-tests` (tests/test_gpu.py with CUDA).
CHECKS = [
    *[(f"reward_model[{mode}]", check_reward_model_bf16_matches_fp32_cpu, {"mode": mode})
      for mode in ("bf16 weights", "fp32 weights + bf16 autocast")],
    *[(f"prm_scorer[{dtype}-{side}]", check_prm_scorer_matches_cpu,
       {"dtype": dtype, "tolerance": tolerance, "padding_side": side})
      for dtype, tolerance in (("float32", 1e-4), ("bfloat16", 0.03)) for side in ("right", "left")],
    ("engine[n completions, stop strings]", check_engine_n_completions_and_stop_strings, {}),
    ("engine[greedy as on cpu]", check_engine_greedy_matches_cpu, {}),
]
