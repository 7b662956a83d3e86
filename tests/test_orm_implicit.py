"""Implicit PRM: step rewards sum to the outcome reward, training, save/reload, use in search."""

from __future__ import annotations

import copy

import pytest
import torch

from orm.implicit import ImplicitPRM, ImplicitPRMConfig, ImplicitRewardModel, encode_steps
from orm.implicit_training import ImplicitCollator, implicit_rows, train_implicit
from orm.objectives import IMPLICIT
from prm.records import StepwiseSolution
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import ObjectiveConfig, TrainConfig

CONFIG = ImplicitPRMConfig(beta=0.5)
PROMPTS = ["What is 2 + 3?", "What is 6 * 7?"]
STEPS = [["2 + 3 = 5.", "The answer is 5."], ["6 * 7 = 42.", "Then 42 - 2 = 40.", "The answer is 40."]]


def _prm(seed_policy=1, seed_reference=0):
    tokenizer = tiny_tokenizer()
    model = ImplicitRewardModel(tiny_causal_lm(tokenizer, seed=seed_policy), tiny_causal_lm(tokenizer, seed=seed_reference), CONFIG.beta)
    return ImplicitPRM(model, tokenizer, CONFIG)


def test_encoding_marks_each_steps_tokens():
    tokenizer = tiny_tokenizer()
    ids, step_ids = encode_steps(tokenizer, CONFIG, "Q?", ["a b", "c"])
    prompt = tokenizer.encode("Q?\n\n")
    assert ids[: len(prompt)] == prompt and step_ids[: len(prompt)] == [-1] * len(prompt)
    assert ids[len(prompt):] == tokenizer.encode("a b\n\n") + tokenizer.encode("c")
    assert step_ids[len(prompt):] == [0] * len(tokenizer.encode("a b\n\n")) + [1] * len(tokenizer.encode("c"))


def test_step_rewards_are_beta_log_ratios_that_sum_to_the_outcome_reward():
    prm = _prm()
    rewards = prm.step_rewards(PROMPTS, STEPS)
    assert [len(r) for r in rewards] == [2, 3]
    # Direct reference computation: beta * sum over solution tokens of log pi - log pi_ref.
    ids, step_ids = prm.encode(PROMPTS[1], STEPS[1])
    tensor = torch.tensor([ids])
    with torch.no_grad():
        logp = [torch.log_softmax(lm(input_ids=tensor).logits[0, :-1], -1).gather(-1, tensor[0, 1:, None])[:, 0]
                for lm in (prm.model.policy, prm.model.reference)]
    ratio = (logp[0] - logp[1]).tolist()
    for k in range(3):
        expected = CONFIG.beta * sum(r for r, s in zip(ratio, step_ids[1:]) if s == k)
        assert rewards[1][k] == pytest.approx(expected, abs=1e-5)
    # the step rewards sum to the outcome reward, as scorer and as model forward
    for row, outcome in zip(rewards, prm.score_outcomes(PROMPTS, STEPS)):
        assert torch.sigmoid(torch.tensor(sum(row), dtype=torch.float64)).item() == pytest.approx(outcome, abs=1e-12)
    batch = ImplicitCollator(prm.tokenizer.pad_token_id)(
        [{"input_ids": i, "step_ids": s, "outcome_label": 1.0} for i, s in (prm.encode(p, st) for p, st in zip(PROMPTS, STEPS))]
    )
    with torch.no_grad():
        forward = prm.model(batch["input_ids"], batch["attention_mask"], batch["step_ids"])
    assert forward.tolist() == pytest.approx([sum(r) for r in rewards], abs=1e-5)
    # step scores are the implicit values of the prefixes; the last one is the outcome score
    scores = prm.score_steps(PROMPTS, STEPS)
    assert [row[-1] for row in scores] == pytest.approx(prm.score_outcomes(PROMPTS, STEPS))
    assert scores[0][0] == pytest.approx(torch.sigmoid(torch.tensor(rewards[0][0])).item(), abs=1e-6)


def test_an_untrained_copy_gives_zero_rewards():
    tokenizer = tiny_tokenizer()
    lm = tiny_causal_lm(tokenizer)
    prm = ImplicitPRM(ImplicitRewardModel(lm, copy.deepcopy(lm), CONFIG.beta), tokenizer, CONFIG)
    assert all(v == 0.0 for row in prm.step_rewards(PROMPTS, STEPS) for v in row)
    assert prm.score_outcomes(PROMPTS, STEPS) == [0.5, 0.5]


def solutions():
    records = []
    for i in range(8):
        good = i % 2 == 0
        last = f"The answer is {i + 4}." if good else "So, thus, hence 100."
        records.append(StepwiseSolution(f"What is {i} + 4?", (f"{i} + 4 = {i + 4}.", last), meta={"correct": good}))
    return records


def test_train_lowers_the_loss_and_reloads_with_identical_scores(tmp_path):
    tokenizer = tiny_tokenizer()
    lm = tiny_causal_lm(tokenizer)
    records = solutions()
    config = TrainConfig(output_dir=str(tmp_path / "implicit"), objective=ObjectiveConfig(IMPLICIT.name), max_steps=10,
                         learning_rate=5e-3, batch_size=4, logging_steps=1, save_steps=100)
    rows, report = implicit_rows(records, tokenizer, CONFIG, config.max_length)
    assert report.rows == 8
    batch = ImplicitCollator(tokenizer.pad_token_id)(rows)

    def loss(model):
        with torch.no_grad():
            rewards = model(batch["input_ids"], batch["attention_mask"], batch["step_ids"])
        return float(torch.nn.functional.binary_cross_entropy_with_logits(rewards, batch["outcome_labels"]))

    before = loss(ImplicitRewardModel(lm, copy.deepcopy(lm), CONFIG.beta))  # log 2: a copy scores 0
    result = train_implicit(config, records, model=lm, tokenizer=tokenizer, implicit_config=CONFIG)
    assert loss(result.model.eval()) < before
    prompts, steps = [r.prompt for r in records], [list(r.steps) for r in records]
    trained = ImplicitPRM(result.model, tokenizer, CONFIG)
    reloaded = ImplicitPRM.from_pretrained(tmp_path / "implicit")
    assert reloaded.config == CONFIG
    assert reloaded.step_rewards(prompts, steps) == trained.step_rewards(prompts, steps)
    assert reloaded.score_steps(prompts, steps) == trained.score_steps(prompts, steps)
    from prm.cli import wiring

    assert wiring.prm_kind_of(tmp_path / "implicit") == "implicit"
    step, outcome = wiring.load_scorers(str(tmp_path / "implicit"), str(tmp_path / "implicit"))
    assert outcome is step and step.score_outcomes(prompts, steps) == trained.score_outcomes(prompts, steps)


def test_usable_in_best_of_n_and_beam_search():
    from prm.engines.base import SamplingConfig
    from prm.engines.scripted import ScriptedEngine
    from prm.records import Problem
    from prm.steps import StepFormat
    from search import beam
    from search.beam import BeamSearchConfig
    from search.best_of_n import score_candidates
    from search.candidates import SearchSetup
    from tests.test_search_beam import script
    from tests.test_search_fakes import extract_answer, grade

    prm = _prm()
    problems = [Problem(id="p1", question="q1 gold=4", answer="4")]
    setup = SearchSetup(lambda p: f"Q:{p.question}|", extract_answer, grade, StepFormat())
    config = BeamSearchConfig(beam_width=2, n_candidates=4, sampling=SamplingConfig(max_new_tokens=50))
    results = beam.run(problems, ScriptedEngine(script), prm, config, setup)
    assert results[0].candidates and results[0].meta["scored_prefixes"] > 0
    scored = score_candidates(results, prm=prm, orm=prm)
    candidate = scored[0].candidates[0]
    assert candidate.outcome_score == pytest.approx(candidate.step_scores[-1])


def test_prm_train_implicit_from_the_command_line(tmp_path, capsys):
    from prm.cli import main
    from tests.test_training_label_token import backbone_and_data

    backbone, data = backbone_and_data(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--model", str(backbone), "--objective", "implicit", "--beta", "0.1",
                 "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--save-steps", "1", "--lr", "1e-3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "an implicit PRM" in captured.out
    for folder in (out, out / "checkpoint-2"):  # the last checkpoint is kept (--save-total-limit 1)
        prm = ImplicitPRM.from_pretrained(folder)
        assert prm.config.beta == 0.1 and len(prm.score_steps(PROMPTS, STEPS)[1]) == 3
    assert main(["train", "--data", str(data), "--model", str(backbone), "--objective", "implicit",
                 "--beta", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "beta" in capsys.readouterr().err
