"""Label-token PRM training: loss on P('+') vs P('-') at the tag, saved and reloaded by the adapter."""

from __future__ import annotations

import pytest
import torch

from prm.cli import wiring
from prm.modeling.adapters import LabelTokenConfig, LabelTokenPRM
from prm.records import StepwiseSolution
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import ObjectiveConfig, RewardCollator, TrainConfig, train
from prm.training.collate import IGNORE
from prm.training.label_token import LabelTokenModel, label_token_rows, prepare_label_tokens
from prm.training.losses import loss_terms, reduce_terms

OBJECTIVE = ObjectiveConfig("label_token")


def solutions():
    records = []
    for i in range(6):
        good = i % 2 == 0
        last = f"The answer is {i + 4}." if good else "So, thus, hence 100."
        label = 1.0 if good else (0.0 if i % 4 else 0.3)  # hard labels and one soft one
        records.append(StepwiseSolution(f"What is {i} + 4?", (f"{i} + 4 = {i + 4}.", last), (1.0, label)))
    records.append(StepwiseSolution("What is 1 + 1?", ("1 + 1 = 2.", "The answer is 2."), (None, 1.0)))
    return records


def _loss_and_probabilities(model: LabelTokenModel, tokenizer, rows):
    """The training loss and sigmoid(step logits) at the labelled tags, as training computes them."""
    batch = RewardCollator.for_tokenizer(tokenizer)(rows)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    mask = batch["step_labels"] != IGNORE
    loss = float(reduce_terms(loss_terms(OBJECTIVE, out, batch)))
    return loss, torch.sigmoid(out.step_logits[mask]).tolist()


def test_rows_put_labels_at_the_adapter_tag_positions():
    tokenizer = tiny_tokenizer()
    lm = tiny_causal_lm(tokenizer)
    config = LabelTokenConfig()
    prepare_label_tokens(lm, tokenizer, config)
    assert len(tokenizer.encode("ки", add_special_tokens=False)) == 1
    rows, report = label_token_rows(solutions(), tokenizer, config, max_length=None)
    adapter = LabelTokenPRM(lm, tokenizer, config)
    first = solutions()[0]
    assert (rows[0]["input_ids"], rows[0]["label_positions"]) == adapter.encode(first.prompt, first.steps)
    assert rows[-1]["step_labels"] == [IGNORE, 1.0]
    assert report.rows == 7
    short, report = label_token_rows(solutions(), tokenizer, config, max_length=rows[0]["label_positions"][0] + 1)
    assert all(len(r["label_positions"]) == 1 for r in short) and report.dropped_steps == 7 - report.skipped_unsupervised


def test_train_save_reload_scores_identically(tmp_path):
    tokenizer = tiny_tokenizer()
    lm = tiny_causal_lm(tokenizer)
    records = solutions()
    config = TrainConfig(output_dir=str(tmp_path / "prm"), objective=OBJECTIVE, max_steps=12, learning_rate=5e-3,
                         batch_size=4, logging_steps=1, save_steps=100)
    label_config = LabelTokenConfig()
    good, bad = prepare_label_tokens(lm, tokenizer, label_config)
    before_model = LabelTokenModel(lm, good, bad)
    rows, _ = label_token_rows(records, tokenizer, label_config, config.max_length)
    before_loss, _ = _loss_and_probabilities(before_model, tokenizer, rows)
    before = {k: v.clone() for k, v in lm.state_dict().items()}

    result = train(config, records, model=lm, tokenizer=tokenizer)

    after_loss, trained_probabilities = _loss_and_probabilities(result.model, tokenizer, rows)
    assert after_loss < before_loss
    assert any(not torch.equal(before[k], v) for k, v in result.model.lm.state_dict().items())
    prompts, steps = [r.prompt for r in records], [list(r.steps) for r in records]
    in_memory = LabelTokenPRM(result.model.lm, tokenizer, label_config).score_steps(prompts, steps)
    reloaded = LabelTokenPRM.from_pretrained(tmp_path / "prm")
    assert reloaded.score_steps(prompts, steps) == in_memory
    supervised = [s for row, r in zip(in_memory, records) for s, v in zip(row, r.labels) if v is not None]
    assert supervised == pytest.approx(trained_probabilities, abs=1e-6)
    # the command line finds the convention from the folder
    assert wiring.prm_kind_of(tmp_path / "prm") == "label_token"
    scorer = wiring.load_step_scorer(str(tmp_path / "prm"))
    assert scorer.score_steps(prompts, steps) == in_memory


def test_a_label_token_that_is_not_one_token_is_refused():
    tokenizer = tiny_tokenizer()
    lm = tiny_causal_lm(tokenizer)
    with pytest.raises(ValueError, match="good label token"):
        prepare_label_tokens(lm, tokenizer, LabelTokenConfig(good_token="correct!!"))


def backbone_and_data(tmp_path):
    """A tiny backbone folder and a 4-row trl_stepwise file, for `prm train` runs."""
    import json

    from prm.testing import save_tiny_backbone

    backbone = save_tiny_backbone(tmp_path / "backbone")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(
        json.dumps({"prompt": f"What is {i} + 4?", "completions": [f"{i} + 4 = {i + 4}.", "The answer is 1."],
                    "labels": [True, i % 2 == 0]}) + "\n"
        for i in range(4)
    ))
    return backbone, data


def test_prm_train_label_token_from_the_command_line(tmp_path, capsys):
    from prm.cli import main

    backbone, data = backbone_and_data(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--model", str(backbone), "--objective", "label_token",
                 "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--save-steps", "1", "--lr", "1e-3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "a label-token PRM" in captured.out
    for folder in (out, out / "checkpoint-2"):  # the last checkpoint is kept (--save-total-limit 1)
        assert wiring.prm_kind_of(folder) == "label_token"
        scores = LabelTokenPRM.from_pretrained(folder).score_steps(["What is 1 + 4?"], [["1 + 4 = 5.", "So 5."]])
        assert len(scores[0]) == 2 and all(0.0 < s < 1.0 for s in scores[0])
