"""The policy prompt: one template, used alike by fine-tuning, labeling and search.

Public: `DEFAULT_TEMPLATE`, `policy_prompt`, `chat_prompt`, `resolve_template`.

A template is text with one `{question}` placeholder. `resolve_template` wraps it once in the
tokenizer's chat template (when asked, or by default where the tokenizer has one), giving the
exact text the policy sees before its first step; `policy_prompt` fills in a question. Because
the SFT warm-up, `prm label` and `prm search` all build prompts here, a policy is sampled with
the prompt it was fine-tuned on, and rollouts continue the very prefix it wrote.
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
