"""Tiny in-process models and tokenizers for tests and benchmarks: no network, no downloads.

Public: `tiny_tokenizer()`, `tiny_causal_lm(tokenizer)`, `save_tiny_backbone(folder)`,
`tiny_math_shepherd_prm()`, `tiny_qwen_prm()`, `tiny_rlhflow_prm()`, `tiny_skywork_prm()`.
"""

from __future__ import annotations

import functools

_CORPUS = [
    "What is 3 + 4? Let me add the numbers. 3 + 4 = 7. The answer is 7.",
    "Tom has 12 apples and gives away 5, so he has 12 - 5 = 7 apples left.",
    "Step 1: compute 6 * 7 = 42. Step 2: subtract 2 to get 40. The answer is \\boxed{40}.",
    "We multiply 8 by 9 and get 72, then divide by 4 to get 18. #### 18",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 + - * / = ( ) . , : ?",
    "First, second, third. So, therefore, thus, hence the total is 100.",
]
SPECIAL = ["<|endoftext|>", "<|pad|>"]


@functools.lru_cache(maxsize=None)
def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tokenizer.to_str()


def tiny_tokenizer(padding_side: str = "right"):
    """A byte-level BPE tokenizer (~400 tokens) that can encode any text."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        padding_side=padding_side,
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    return tokenizer


def tiny_causal_lm(tokenizer, seed: int = 0, hidden_size: int = 32, num_layers: int = 2):
    """A randomly initialised 2-layer Llama sized to the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return AutoModelForCausalLM.from_config(config)


def save_tiny_backbone(folder, seed: int = 0):
    """A tiny causal LM and its tokenizer saved as a Hugging Face folder (what `--model` or
    `--policy` takes); returns the folder."""
    tokenizer = tiny_tokenizer()
    tiny_causal_lm(tokenizer, seed=seed).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_math_shepherd_prm(padding_side: str = "right", seed: int = 1):
    """(model, tokenizer) of a label-token PRM in Math-Shepherd's convention: a causal LM whose
    tokenizer holds the step tag "ки" as one entry (as Mistral's does) and "+" / "-"."""
    tokenizer = tiny_tokenizer(padding_side=padding_side)
    tokenizer.add_tokens(["ки"])
    return tiny_causal_lm(tokenizer, seed=seed).eval(), tokenizer


def tiny_qwen_prm(padding_side: str = "right", seed: int = 2):
    """(model, tokenizer) of a classification-head PRM in Qwen2.5-Math-PRM's convention: a Qwen2
    decoder with a 2-class head (`prm.modeling.adapters.StepClassifierModel`), step token
    "<extra_0>" and a chat template."""
    import torch
    from transformers import AutoModel, Qwen2Config

    from prm.modeling.adapters import StepClassifierModel

    tokenizer = tiny_tokenizer(padding_side=padding_side)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
    )
    return StepClassifierModel(AutoModel.from_config(config)).eval(), tokenizer


LLAMA3_STYLE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def tiny_rlhflow_prm(padding_side: str = "right", seed: int = 3):
    """(model, tokenizer) of an RLHFlow-style PRM: a Llama causal LM with a Llama-3-shaped chat
    template (header and end-of-turn special tokens) whose assistant turns hold "+" / "-"."""
    tokenizer = tiny_tokenizer(padding_side=padding_side)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    )
    tokenizer.chat_template = LLAMA3_STYLE_TEMPLATE
    return tiny_causal_lm(tokenizer, seed=seed).eval(), tokenizer


def tiny_skywork_prm(padding_side: str = "right", seed: int = 4):
    """(model, tokenizer) of a Skywork-style PRM: a Qwen2 causal LM plus a value head
    (`prm.modeling.skywork.ValueHeadModel`), step token "\n"."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from prm.modeling.skywork import ValueHeadModel

    tokenizer = tiny_tokenizer(padding_side=padding_side)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
    )
    return ValueHeadModel(AutoModelForCausalLM.from_config(config)).eval(), tokenizer
