"""Generation engines: the transformers engine on a tiny in-process model, the scripted engine,
per-prompt seeds and the lazy vLLM engine's import boundary."""

from __future__ import annotations

import sys

import pytest

from prm.engines.base import GenerationEngine, SamplingConfig, generate_seeded, row_seed
from prm.engines.scripted import ScriptedEngine
from prm.testing import tiny_causal_lm, tiny_tokenizer

torch = pytest.importorskip("torch")

PROMPTS = ["What is 3 + 4?", "Tom has 12 apples and"]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = tiny_tokenizer()
    model = tiny_causal_lm(tokenizer)
    model.eval()
    return model, tokenizer


def _engine(tiny, **options):
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig

    model, tokenizer = tiny
    return TransformersEngine(model, tokenizer, TransformersEngineConfig(**options))


def test_shapes_token_counts_and_length_finish(tiny):
    engine = _engine(tiny, batch_size=4)
    out = engine.generate(PROMPTS, SamplingConfig(n=3, temperature=1.0, max_new_tokens=6, seed=1))
    assert isinstance(engine, GenerationEngine)
    assert [len(row) for row in out] == [3, 3]
    for row in out:
        for completion in row:
            assert 1 <= completion.num_tokens <= 6
            assert completion.finish_reason in ("stop", "length")
            if completion.finish_reason == "length":
                assert completion.num_tokens == 6 and completion.stop_string is None


def test_greedy_matches_transformers_generate(tiny):
    model, tokenizer = tiny
    engine = _engine(tiny)
    out = engine.generate(["Tom has"], SamplingConfig(n=2, temperature=0.0, max_new_tokens=8))
    ids = tokenizer("Tom has", return_tensors="pt")
    with torch.no_grad():
        reference = model.generate(**ids, max_new_tokens=8, do_sample=False)
    expected = tokenizer.decode(reference[0, ids.input_ids.shape[1] :], skip_special_tokens=True)
    assert [c.text for c in out[0]] == [expected, expected]


def test_stop_string_ends_sequence_early(tiny):
    engine = _engine(tiny)
    greedy = SamplingConfig(n=1, temperature=0.0, max_new_tokens=8)
    full = engine.generate(["Tom has"], greedy)[0][0].text
    stop = full[3:7]
    assert stop and stop in full
    cut = engine.generate(["Tom has"], SamplingConfig(n=1, temperature=0.0, max_new_tokens=8, stop=(stop,)))[0][0]
    assert cut.finish_reason == "stop" and cut.stop_string == stop
    assert cut.text == full[: full.find(stop)]
    assert cut.num_tokens < 8


def test_seeded_sampling_is_reproducible_and_seed_dependent(tiny):
    engine = _engine(tiny)
    sampling = SamplingConfig(n=4, temperature=1.0, max_new_tokens=8, seed=7)
    first = engine.generate(PROMPTS, sampling)
    assert engine.generate(PROMPTS, sampling) == first
    other = engine.generate(PROMPTS, SamplingConfig(n=4, temperature=1.0, max_new_tokens=8, seed=8))
    assert other != first
    texts = [c.text for c in first[0]]
    assert len(set(texts)) > 1  # the n samples of one prompt differ


def test_per_prompt_seeds_make_rows_independent_of_the_batch(tiny):
    engine = _engine(tiny)
    sampling = SamplingConfig(n=3, temperature=1.0, max_new_tokens=8)
    together = engine.generate(PROMPTS, sampling, seeds=[11, 12])
    alone = engine.generate(PROMPTS[1:], sampling, seeds=[12])
    assert together[1] == alone[0]
    assert generate_seeded(engine, PROMPTS, sampling, [11, 12]) == together


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shared_prefill_equals_separate_prefill(tiny, temperature):
    sampling = SamplingConfig(n=3, temperature=temperature, max_new_tokens=8, seed=3)
    shared = _engine(tiny, share_prefill=True, batch_size=8).generate(PROMPTS, sampling)
    separate = _engine(tiny, share_prefill=False, batch_size=8).generate(PROMPTS, sampling)
    small_batches = _engine(tiny, share_prefill=True, batch_size=2).generate(PROMPTS, sampling)
    assert shared == separate == small_batches


def test_tiny_top_p_is_greedy(tiny):
    engine = _engine(tiny)
    greedy = engine.generate(PROMPTS, SamplingConfig(n=2, temperature=0.0, max_new_tokens=6))
    nucleus = engine.generate(PROMPTS, SamplingConfig(n=2, temperature=1.0, top_p=1e-6, max_new_tokens=6))
    assert nucleus == greedy


def test_chat_template_applied_when_asked(tiny):
    from prm.engines.hf import chat_prompt

    model, tokenizer = tiny
    greedy = SamplingConfig(n=1, temperature=0.0, max_new_tokens=6)
    chat = _engine(tiny, chat_template=True).generate(["What is 3 + 4?"], greedy)
    formatted = chat_prompt(tokenizer, "What is 3 + 4?")
    assert formatted.startswith("<|user|>What is 3 + 4?")
    plain = _engine(tiny).generate([formatted], greedy)
    assert chat == plain


def test_bad_options_raise_with_the_value(tiny):
    from prm.engines.hf import TransformersEngineConfig

    with pytest.raises(ValueError, match="batch_size"):
        TransformersEngineConfig(batch_size=0)
    with pytest.raises(ValueError, match="impl.*'slow'"):
        TransformersEngineConfig(impl="slow")
    with pytest.raises(ValueError, match="compact_fraction"):
        TransformersEngineConfig(compact_fraction=1.5)
    with pytest.raises(ValueError, match="seeds"):
        _engine(tiny).generate(PROMPTS, SamplingConfig(), seeds=[1])


def test_scripted_engine_accepts_seeds_and_counts_tokens():
    engine = ScriptedEngine(lambda prompt, j: f"a b c{j}\n\nd")
    out = generate_seeded(engine, ["p"], SamplingConfig(n=2, stop=("\n\n",)), [5])
    assert [c.text for c in out[0]] == ["a b c0", "a b c1"]
    assert engine.generated_tokens == 6
    assert row_seed("k", 1) == row_seed("k", 1) != row_seed("k", 2)


def test_vllm_engine_is_lazy():
    import importlib.util
    import subprocess
    from pathlib import Path

    code = "import sys, prm.engines, prm.engines.vllm, prm.cli.label; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    if importlib.util.find_spec("vllm") is None:
        from prm.engines.vllm import VLLMEngine

        with pytest.raises(ImportError, match="pip install"):
            VLLMEngine("some-model")


@pytest.mark.parametrize("share_prefill", [True, False])
@pytest.mark.parametrize("compact_fraction", [0.0, 0.125, 1.0])
def test_fast_loop_gives_the_reference_loops_completions(tiny, share_prefill, compact_fraction):
    """The fast loop (preallocated cache, late compaction, batched stop checks) draws the same
    tokens as the reference loop: same seeds, same completions, stop strings and EOS included."""
    prompts = PROMPTS + ["Step 1: compute 6 * 7 = 42.", "0 1 2"]
    for sampling in (
        SamplingConfig(n=3, temperature=1.0, max_new_tokens=12, seed=5, stop=("=", ". ")),
        SamplingConfig(n=2, temperature=0.7, top_p=0.9, max_new_tokens=10, seed=6),
        SamplingConfig(n=2, temperature=0.0, max_new_tokens=6, stop=(" ",)),
    ):
        reference = _engine(tiny, impl="reference", share_prefill=share_prefill, batch_size=5).generate(prompts, sampling)
        fast = _engine(tiny, share_prefill=share_prefill, batch_size=5, compact_fraction=compact_fraction)
        assert fast.generate(prompts, sampling) == reference


def test_fast_loop_stops_rows_on_eos_and_stop_strings_while_others_go_on(tiny):
    model, tokenizer = tiny
    engine = _engine(tiny, compact_fraction=1.0)  # finished rows stay in the batch to the end
    greedy = SamplingConfig(n=1, temperature=0.0, max_new_tokens=10)
    full = engine.generate(PROMPTS, greedy)
    stop = full[0][0].text[2:5]
    cut = engine.generate(PROMPTS, SamplingConfig(n=1, temperature=0.0, max_new_tokens=10, stop=(stop,)))
    assert cut[0][0].stop_string == stop and cut[0][0].text == full[0][0].text[: full[0][0].text.find(stop)]
    if stop not in full[1][0].text:
        assert cut[1][0] == full[1][0]


def test_rows_per_call_and_per_batch_are_recorded(tiny):
    engine = _engine(tiny, batch_size=4)
    engine.generate(PROMPTS, SamplingConfig(n=3, max_new_tokens=2, seed=1))
    engine.generate(PROMPTS[:1], SamplingConfig(n=1, max_new_tokens=2, seed=1))
    assert engine.rows_per_call == [6, 1]
    assert engine.rows_per_batch == [4, 2, 1]


def test_preallocated_layer_grows_and_selects_rows():
    from prm.engines.kv import PreallocatedLayer

    keys = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).view(2, 1, 3, 2)
    layer = PreallocatedLayer(keys, keys + 100, capacity=4, index=torch.tensor([0, 1, 1]))
    assert layer.get_seq_length() == 3 and layer.keys.shape == (3, 1, 3, 2)
    for step in range(3):  # passes the capacity of 4: the buffer grows, the content stays
        new = torch.full((3, 1, 1, 2), float(step))
        k, v = layer.update(new, new + 100)
    assert k.shape == (3, 1, 6, 2) and torch.equal(k[:, :, :3], keys[[0, 1, 1]])
    assert torch.equal(v[:, :, 5], torch.full((3, 1, 2), 102.0))
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.keys[:, :, :3], keys[[1, 0]]) and layer.values.shape == (2, 1, 6, 2)
