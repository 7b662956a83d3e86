"""Cached frozen layers (`--cache-frozen-layers`): the same training as without the cache, on a
tiny in-process model, with the whole model saved; bad combinations are refused."""

from __future__ import annotations

import pytest
import torch

import orm.objectives  # noqa: F401  (registers joint, as prm train does)
from prm.modeling import RewardModel
from prm.records import StepwiseSolution
from prm.testing import tiny_causal_lm, tiny_tokenizer
from prm.training import ObjectiveConfig, TrainConfig, build_dataset, train
from prm.training.frozen_cache import FrozenLayerCache
from prm.training.trainer import decoder_layers


def solutions(n=12):
    return [StepwiseSolution(f"What is {i} + 4?", (f"{i} + 4 = {i + 4 + i % 2}.", f"The answer is {i + 4 + i % 2}."),
                             (float(i % 2 == 0), float(i % 2 == 0))) for i in range(n)]


def _config(out, **kwargs):
    defaults = dict(max_steps=6, learning_rate=5e-3, batch_size=4, logging_steps=1, save_steps=3,
                    objective=ObjectiveConfig("joint"), train_top_layers=1, packing="off")
    defaults.update(kwargs)
    return TrainConfig(output_dir=str(out), **defaults)


def _run(out, **kwargs):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer)
    return train(_config(out, **kwargs), solutions(), solutions(4), model=model, tokenizer=tokenizer)


def test_cached_training_matches_training_through_the_frozen_layers(tmp_path):
    plain = _run(tmp_path / "plain")
    cached = _run(tmp_path / "cached", cache_frozen_layers=True)
    assert cached.metrics["train_frozen_cache_rows"] == 12 + 4  # train rows, then eval rows
    for (name, a), b in zip(plain.model.state_dict().items(), cached.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    assert cached.metrics["eval_loss"] == pytest.approx(plain.metrics["eval_loss"], rel=1e-4)
    # The saved folder and the checkpoint hold every layer, and the model scores normally again.
    saved = RewardModel.from_pretrained(tmp_path / "cached")
    for name, value in cached.model.state_dict().items():
        torch.testing.assert_close(saved.state_dict()[name], value, msg=name)
    assert (tmp_path / "cached" / "checkpoint-6" / "model.safetensors").is_file()
    layers = decoder_layers(cached.model.backbone)
    assert all("forward" not in vars(layer) for layer in layers)  # the lower layers run again


def test_the_self_check_refuses_states_that_differ_from_the_full_forward():
    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer)
    data, _ = build_dataset(solutions(4), tokenizer, model.step_format, ObjectiveConfig("joint"))
    rows = list(data["input_ids"])
    layers = decoder_layers(model.backbone)
    seen = []
    cache = FrozenLayerCache.build(model, layers, 1, rows, tokenizer.pad_token_id or 0, batch_size=3,
                                   progress=seen.append)
    assert [s.shape[0] for s in cache.states] == [len(r) for r in rows]
    assert seen == [3, 4]  # rows cached after each batch: the bar moves while the cache builds
    cache.check(model, rows, tokenizer.pad_token_id or 0)  # passes
    cache.states[0] = cache.states[0] + 1.0
    with pytest.raises(ValueError, match="change this backbone's outputs"):
        cache.check(model, rows, tokenizer.pad_token_id or 0)


def test_bad_combinations_are_refused(tmp_path):
    with pytest.raises(ValueError, match="set train_top_layers"):
        _config(tmp_path, train_top_layers=None, cache_frozen_layers=True)
    with pytest.raises(ValueError, match="padded batches"):
        _config(tmp_path, cache_frozen_layers=True, packing="on")
    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer)
    with pytest.raises(ValueError, match="1 <= top"):
        FrozenLayerCache.build(model, decoder_layers(model.backbone), len(decoder_layers(model.backbone)), [[1, 2]], 0)
    with pytest.raises(ValueError, match="ProcessBench"):
        train(_config(tmp_path, cache_frozen_layers=True), solutions(), solutions(4), model=model, tokenizer=tokenizer,
              processbench={"gsm8k": []})
