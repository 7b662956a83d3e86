"""The one step contract: how solutions split into steps and where step labels live.

Public: `StepFormat`, `EncodedSolution`, `MATH_SHEPHERD`, `STEP_FORMATS`, `step_format_named`.

`StepFormat.split`/`join` turn solution text into steps and back (exact round trip).
`StepFormat.encode` builds a reward model's input ids: the prompt, then each step tokenized
on its own with the tag's ids appended, so a label sits at the last token of each tag. It never
re-tokenizes a concatenated string to search for the tag: a tag such as `ки` or `\\n` merges
with its neighbours under BPE and would land elsewhere. Truncation drops whole trailing steps.
Training, scoring, labelling and beam search all take their delimiters and tags from here,
and are handed the format explicitly: it travels with the data (label sidecars, reward-model
folders, search results), never from a default. `STEP_FORMATS` names the formats a command
line can choose (`--step-format`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from prm.records import Label


class Tokenizer(Protocol):
    """What `encode` needs of a tokenizer; Hugging Face tokenizers satisfy it."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def __call__(self, text: Any, add_special_tokens: bool = ...) -> Any: ...


@dataclass(frozen=True)
class EncodedSolution:
    """A tokenized (prompt, steps) pair.

    input_ids: (seq,) token ids: prompt, then per kept step its ids and the tag's ids.
    label_positions: (kept_steps,) index into input_ids of each kept step's last tag token.
    labels: (kept_steps,) the labels of the kept steps (None where unsupervised or unlabelled).
    dropped_steps: trailing steps cut to fit max_length.
    """

    input_ids: tuple[int, ...]
    label_positions: tuple[int, ...]
    labels: tuple[Label, ...]
    dropped_steps: int

    @property
    def kept_steps(self) -> int:
        return len(self.label_positions)


@dataclass(frozen=True)
class StepFormat:
    """How steps are delimited in text and tagged for a reward model.

    delimiter: separates steps in solution text (policy output, beam-search stop string).
    tag: marks the end of each step in reward-model input; a step's label lives at the last
        token of its tag. By default a dedicated special token that the model adds to the
        tokenizer; any existing token or string (e.g. `" ки"`, `"\\n"`) works too.
    tag_is_special: add `tag` to the tokenizer as a special token (embeddings are resized).
    prompt_suffix: text between the prompt and the first step in reward-model input.
    """

    delimiter: str = "\n\n"
    tag: str = "<|step|>"
    tag_is_special: bool = True
    prompt_suffix: str = "\n\n"

    def to_dict(self) -> dict[str, Any]:
        """The fields, for what a stage writes (sidecars, reward-model folders, search results)."""
        return {"delimiter": self.delimiter, "tag": self.tag, "tag_is_special": self.tag_is_special,
                "prompt_suffix": self.prompt_suffix}

    @classmethod
    def from_dict(cls, row: Any) -> "StepFormat":
        """Inverse of `to_dict` (unknown keys, such as a recorded "name", are ignored)."""
        if not isinstance(row, dict):
            raise ValueError(f"a step format is an object with delimiter, tag, ...; got {row!r}")
        return cls(**{k: row[k] for k in ("delimiter", "tag", "tag_is_special", "prompt_suffix") if k in row})

    def __post_init__(self) -> None:
        for name in ("delimiter", "tag"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"StepFormat.{name} must be a non-empty str, got {value!r}")
        if not isinstance(self.prompt_suffix, str):
            raise ValueError(f"StepFormat.prompt_suffix must be a str, got {self.prompt_suffix!r}")

    # ----------------------------------------------------------------- text
    def split(self, text: str, drop_empty: bool = False) -> list[str]:
        """Steps of a solution text. With drop_empty=False, `join(split(t)) == t` exactly;
        drop_empty=True also strips each step and drops blank ones (for model output)."""
        pieces = text.split(self.delimiter)
        if drop_empty:
            return [piece.strip() for piece in pieces if piece.strip()]
        return pieces

    def join(self, steps: Sequence[str]) -> str:
        """Solution text of the steps; the inverse of `split`."""
        return self.delimiter.join(steps)

    def tagged_text(self, prompt: str, steps: Sequence[str]) -> str:
        """The reward-model input as text (for reading and for string-based adapters)."""
        return prompt + self.prompt_suffix + "".join(step + self.tag for step in steps)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Where generation of one step ends (step-level beam search)."""
        return (self.delimiter,)

    # ---------------------------------------------------------------- tokens
    def tag_ids(self, tokenizer: Tokenizer) -> list[int]:
        """The tag's token ids, looked up from the tokenizer (never hard-coded)."""
        ids = list(tokenizer.encode(self.tag, add_special_tokens=False))
        if not ids:
            raise ValueError(f"the tokenizer maps the step tag {self.tag!r} to no tokens")
        return ids

    def encode(
        self,
        tokenizer: Tokenizer,
        prompt: str,
        steps: Sequence[str],
        labels: Sequence[Label] | None = None,
        max_length: int | None = None,
        tag_ids: Sequence[int] | None = None,
    ) -> EncodedSolution:
        """Token ids and label positions for one solution (see module docstring).

        The prompt keeps the tokenizer's special tokens (BOS where it has one); steps do not.
        With max_length, whole trailing steps are dropped until the rest fits; a prompt that
        alone does not fit with its first step keeps no step (dropped_steps == len(steps)).
        """
        if labels is not None and len(labels) != len(steps):
            raise ValueError(f"{len(labels)} labels for {len(steps)} steps")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be positive, got {max_length}")
        tag = list(tag_ids) if tag_ids is not None else self.tag_ids(tokenizer)
        input_ids = list(tokenizer.encode(prompt + self.prompt_suffix, add_special_tokens=True))
        step_ids = tokenizer(list(steps), add_special_tokens=False)["input_ids"] if steps else []
        positions: list[int] = []
        for ids in step_ids:
            if max_length is not None and len(input_ids) + len(ids) + len(tag) > max_length:
                break
            input_ids.extend(ids)
            input_ids.extend(tag)
            positions.append(len(input_ids) - 1)
        kept = len(positions)
        kept_labels = tuple(labels[:kept]) if labels is not None else (None,) * kept
        return EncodedSolution(
            input_ids=tuple(input_ids),
            label_positions=tuple(positions),
            labels=kept_labels,
            dropped_steps=len(steps) - kept,
        )


# Math-Shepherd's own convention: steps end with " ки" and lines are newline-separated.
MATH_SHEPHERD = StepFormat(delimiter="\n", tag=" ки", tag_is_special=False, prompt_suffix=" ")

# name -> format, for --step-format and for the name a label sidecar records.
STEP_FORMATS: dict[str, StepFormat] = {"default": StepFormat(), "math_shepherd": MATH_SHEPHERD}


def step_format_named(name: str) -> StepFormat:
    """The format of STEP_FORMATS called `name`; ValueError naming the choices otherwise."""
    if name not in STEP_FORMATS:
        raise ValueError(f"step format {name!r}: choose one of {', '.join(STEP_FORMATS)}")
    return STEP_FORMATS[name]
