"""The policy prompt: one template, used alike by fine-tuning, labeling and search.

Public: `DEFAULT_TEMPLATE`, `policy_prompt`, `chat_prompt`, `resolve_template`, `encode_prompt`.

A template is text with one `{question}` placeholder. `resolve_template` wraps it once in the
tokenizer's chat template (when asked, or by default where the tokenizer has one), giving the
exact text the policy sees before its first step; `policy_prompt` fills in a question. Because
the SFT warm-up, `prm label` and `prm search` all build prompts here, a policy is sampled with
the prompt it was fine-tuned on, and rollouts continue the very prefix it wrote.

`encode_prompt` tokenizes a prompt the way the model would have tokenized the same text in the
middle of its own output. Byte-level BPE merges a trailing run of whitespace into one token
("\n\n" alone is `ĊĊ`) that it never produces when text follows (`Ċ`, `Ċ`, `The`), so a
rollout or beam prefix ending in the step delimiter would hand the policy a token it never saw
there; in the demo that alone dropped beam search from ~30% to 6%.
"""

from __future__ import annotations

from typing import Any

DEFAULT_TEMPLATE = (
    "Solve the problem step by step. Separate the steps with a blank line and give the final "
    "answer as \\boxed{...}.\n\nProblem: {question}\n\nSolution:\n\n"
)
_PLACEHOLDER = "{question}"


def policy_prompt(question: str, template: str = DEFAULT_TEMPLATE) -> str:
    """`template` with "{question}" replaced (no other braces are read)."""
    if _PLACEHOLDER not in template:
        raise ValueError(f"the prompt template must contain {{question}}, got {template[:80]!r}")
    return template.replace(_PLACEHOLDER, question)


def chat_prompt(tokenizer: Any, question: str, system_prompt: str | None = None) -> str:
    """The text as one user message in the tokenizer's chat template, ready for generation."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "the tokenizer has no chat template; run without chat templating (plain prompts)"
        )
    messages = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
    messages.append({"role": "user", "content": question})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def resolve_template(
    tokenizer: Any,
    template: str = DEFAULT_TEMPLATE,
    chat: bool | None = None,
    system_prompt: str | None = None,
) -> str:
    """The template as the policy sees it.

    chat=None wraps it in the chat template where the tokenizer has one, True requires one
    (a ValueError says so otherwise), False keeps it plain.
    """
    policy_prompt("", template)  # validates the placeholder
    if chat is None:
        chat = bool(getattr(tokenizer, "chat_template", None))
    if not chat:
        if system_prompt is not None:
            raise ValueError("a system prompt needs the chat template (chat=True)")
        return template
    return chat_prompt(tokenizer, template, system_prompt)


_SENTINEL = "x"


def encode_prompt(tokenizer: Any, text: str, add_special_tokens: bool = True) -> list[int]:
    """Token ids of `text`, with trailing whitespace tokenized as if text followed it.

    The fix is taken only when it is exact: the ids of `text + "x"` must end in one token that
    decodes to "x" and the rest must decode to the same text as the plain ids; otherwise the
    plain ids are returned.
    """
    ids = list(tokenizer.encode(text, add_special_tokens=add_special_tokens))
    if not text or not text[-1].isspace():
        return ids
    healed = list(tokenizer.encode(text + _SENTINEL, add_special_tokens=add_special_tokens))
    if (
        len(healed) >= 2
        and tokenizer.decode(healed[-1:]) == _SENTINEL
        and tokenizer.decode(healed[:-1]) == tokenizer.decode(ids)
    ):
        return healed[:-1]
    return ids
