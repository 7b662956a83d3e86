"""Scoring prefixes that grow a step at a time: a reward model's KV cache kept per prefix.

Public: `PrefixState`, `PrefixExtender`.

Beam search and its relatives score prefixes, keep the best, and score each kept prefix again
after one more step. `PrefixExtender` keeps what the model computed for a prefix (a
`PrefixState`: its token ids, label positions, step scores and the keys/values of its own
tokens, linked to the state it grew from), so a grown prefix reads only its new tokens:
`start(prompts)` reads the bare prompts, `extend(states, new_steps)` the new steps, batched.

Exactness. A state is reused only where the grown prefix's ids, encoded from scratch by the
runner's own `encode` (the ids full rescoring reads), start with the state's ids and keep its
label positions; otherwise (an encoder whose tokenizer merges across the step boundary) the
prefix is read whole again and marked `reused=False`. A prefix over max_length is scored by the
full path (`RewardRunner.run`, with its overflow rule) and is never extended. `can_extend`
probes once that the backbone takes a cache and is causal: a short sequence read in two parts,
alone and batched beside a row with no past, must give the logits of one read.

Batching. The rows of one forward have pasts of different lengths. Each row's past is copied
into a left-padded cache of the batch's longest past, its new tokens are right-padded after
it, the attention mask is 0 on both paddings, and position ids continue from the row's own
past length, so each row sees exactly its own tokens at their own positions. Afterwards each
row keeps a copy of the keys/values of its new tokens only (tensors stay on the model's
device); a state refers to its parent, so siblings share their common past and a pruned
prefix's memory is freed once nothing refers to its state.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch

from prm.scores import Extension

# Tolerance on step logits for the probe, relative to their scale, by the model's dtype.
_PROBE_TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-4}
_PROBE_TEXT = ("What is 1 + 2?", ["1 + 2 = 3.", "The answer is 3."])


@dataclass(frozen=True, eq=False)
class PrefixState:
    """A scored prefix: prompt, steps, input_ids (all tokens read), label_positions (one per
    step), step_scores; own: keys/values of the tokens this state added to its parent's,
    (layers, 2, kv_heads, own_tokens, head_dim) on the model's device, None for no tokens.
    extendable: False for a prefix cut by max_length (grown prefixes are scored in full)."""

    prompt: str
    steps: tuple[str, ...]
    input_ids: tuple[int, ...]
    label_positions: tuple[int, ...]
    step_scores: tuple[float, ...]
    parent: "PrefixState | None" = field(default=None, repr=False)
    own: torch.Tensor | None = field(default=None, repr=False)
    extendable: bool = True

    def segments(self) -> Iterator[torch.Tensor]:
        """The key/value tensors of every token of the prefix, in order."""
        chain = []
        state: PrefixState | None = self
        while state is not None:
            chain.append(state)
            state = state.parent
        for state in reversed(chain):
            if state.own is not None:
                yield state.own


@dataclass(frozen=True)
class _Row:
    past: PrefixState | None  # None: nothing read yet
    new_ids: tuple[int, ...]
    positions: tuple[int, ...]  # label positions within new_ids


def _cache_argument(backbone: torch.nn.Module) -> str | None:
    base = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
    parameters = inspect.signature(base.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in parameters), None)


class PrefixExtender:
    """Stateful scoring over a `prm.scoring.RewardRunner`'s model, tokenizer and encoder."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.unsupported_reason: str | None = None
        self._supported: bool | None = None

    # -------------------------------------------------------------- the probe
    def can_extend(self) -> bool:
        """Whether reusing a prefix's cache gives the scores of reading it whole (probed once;
        `unsupported_reason` says why not)."""
        if self._supported is None:
            self._supported = self._probe()
        return self._supported

    def _probe(self) -> bool:
        if _cache_argument(self.runner.model.backbone) is None:
            self.unsupported_reason = "the backbone's forward takes no cache"
            return False
        try:
            ids = self.runner.encode([_PROBE_TEXT[0]], [_PROBE_TEXT[1]])[0].input_ids
            half = len(ids) // 2
            everything = tuple(range(len(ids)))
            (whole, _), = self._read([_Row(None, ids, everything)], logits=True)
            (first, own), = self._read([_Row(None, ids[:half], everything[:half])], logits=True)
            past = PrefixState("", (), ids[:half], (), (), own=own)
            (second, _), (again, _) = self._read(
                [_Row(past, ids[half:], everything[: len(ids) - half]), _Row(None, ids, everything)], logits=True
            )
        except (TypeError, ValueError, RuntimeError, AttributeError, IndexError, KeyError) as error:
            self.unsupported_reason = f"reading with a cache failed: {type(error).__name__}: {error}"
            return False
        whole, parts, again = torch.tensor(whole), torch.tensor(first + second), torch.tensor(again)
        dtype = next(self.runner.model.parameters()).dtype
        tolerance = _PROBE_TOLERANCE.get(dtype, 3e-2) * max(1.0, float(whole.abs().max()))
        if not (torch.allclose(parts, whole, atol=tolerance, rtol=0) and torch.allclose(again, whole, atol=tolerance, rtol=0)):
            self.unsupported_reason = "a prefix read in two parts scores differently (not a causal model?)"
            return False
        return True

    # ------------------------------------------------------------ public API
    def start(self, prompts: Sequence[str]) -> list[Extension]:
        """Per prompt: its state with no step (the prompt and the format's prompt suffix read)."""
        encoded = self.runner.encode(list(prompts), [[] for _ in prompts])
        read = self._read([_Row(None, item.input_ids, ()) for item in encoded])
        return [
            Extension((), PrefixState(prompt, (), item.input_ids, (), (), own=own), len(item.input_ids))
            for prompt, item, (_, own) in zip(prompts, encoded, read)
        ]

    def extend(self, states: Sequence[PrefixState], new_steps: Sequence[Sequence[str]]) -> list[Extension]:
        """Per row: states[i]'s prefix grown by new_steps[i] (see module docstring)."""
        if len(states) != len(new_steps):
            raise ValueError(f"{len(states)} states but {len(new_steps)} step lists; give one per state")
        for index, steps in enumerate(new_steps):
            if isinstance(steps, str) or not steps:
                raise ValueError(f"new_steps[{index}] must be a non-empty list of steps, got {steps!r}")
        prompts = [state.prompt for state in states]
        grown = [state.steps + tuple(steps) for state, steps in zip(states, new_steps)]
        encoded = self.runner.encode(prompts, grown)  # raises here as full rescoring would
        rows: dict[int, _Row] = {}
        for index, (state, item) in enumerate(zip(states, encoded)):
            if item.dropped_steps:
                continue  # overflow == "repeat_last": scored below by the full path
            rows[index] = self._row(state, item)
        results: list[Extension | None] = [None] * len(states)
        for index, (probs, own) in zip(rows, self._read(list(rows.values()))):
            state, item, row = states[index], encoded[index], rows[index]
            reused = row.past is not None
            scores = (state.step_scores if reused else ()) + tuple(probs)
            new_state = PrefixState(
                state.prompt, grown[index], item.input_ids, item.label_positions, scores, parent=row.past, own=own
            )
            results[index] = Extension(scores, new_state, len(row.new_ids), reused)
        cut = [i for i in range(len(states)) if i not in rows]
        if cut:
            for index, (probs, _) in zip(cut, self.runner.run([prompts[i] for i in cut], [grown[i] for i in cut])):
                item = encoded[index]
                new_state = PrefixState(
                    prompts[index], grown[index], item.input_ids, item.label_positions, tuple(probs), extendable=False
                )
                results[index] = Extension(tuple(probs), new_state, len(item.input_ids), False)
        return results  # type: ignore[return-value]

    @staticmethod
    def _row(state: PrefixState, item: Any) -> _Row:
        """Reuse `state` where the grown prefix's ids extend its ids and keep its labels."""
        read = len(state.input_ids)
        kept = len(state.label_positions)
        new_positions = item.label_positions[kept:]
        if (
            state.extendable
            and item.input_ids[:read] == state.input_ids
            and item.label_positions[:kept] == state.label_positions
            and all(p >= read for p in new_positions)
        ):
            return _Row(state, item.input_ids[read:], tuple(p - read for p in new_positions))
        return _Row(None, item.input_ids, item.label_positions)

    # ------------------------------------------------------------- forwards
    @torch.inference_mode()
    def _read(self, rows: list[_Row], logits: bool = False) -> list[tuple[list[float], torch.Tensor | None]]:
        """Per row (in order): step probabilities (logits with logits=True) at its positions,
        and the keys/values of its new tokens. batch_size rows per forward, sorted by length."""
        results: list[tuple[list[float], torch.Tensor | None] | None] = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: (_past_length(rows[i]), len(rows[i].new_ids)))
        for index in order:
            if not rows[index].new_ids:
                results[index] = ([], None)
        order = [i for i in order if rows[i].new_ids]
        size = self.runner.batch_size
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            for index, result in zip(chunk, self._forward([rows[i] for i in chunk], logits)):
                results[index] = result
        return results  # type: ignore[return-value]

    def _forward(self, rows: list[_Row], logits: bool) -> list[tuple[list[float], torch.Tensor]]:
        from transformers import DynamicCache

        model = self.runner.model
        device = next(model.parameters()).device
        pasts = [_past_length(row) for row in rows]
        width, new_width = max(pasts), max(len(row.new_ids) for row in rows)
        input_ids = torch.full((len(rows), new_width), self.runner.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width + new_width), dtype=torch.long)
        position_ids = torch.zeros((len(rows), new_width), dtype=torch.long)
        for r, (row, past) in enumerate(zip(rows, pasts)):
            input_ids[r, : len(row.new_ids)] = torch.tensor(row.new_ids, dtype=torch.long)
            attention_mask[r, width - past : width + len(row.new_ids)] = 1
            position_ids[r] = past + torch.arange(new_width)
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit:  # padding slots past the end must still index the position table
            position_ids.clamp_(max=limit - 1)
        cache = DynamicCache()
        if width:
            padded = _padded_past(rows, pasts, width)
            cache = DynamicCache([(padded[layer, 0], padded[layer, 1]) for layer in range(padded.shape[0])])
        kwargs = {_cache_argument(model.backbone): cache, "use_cache": True}
        output = model.backbone(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
            position_ids=position_ids.to(device), **kwargs,
        )
        step_logits = model.step_head(output.last_hidden_state).float()  # (batch, new_width)
        values = step_logits if logits else torch.sigmoid(step_logits)
        values = values.cpu()
        results = []
        for r, row in enumerate(rows):
            end = width + len(row.new_ids)
            own = torch.stack([torch.stack((layer.keys[r, :, width:end], layer.values[r, :, width:end])) for layer in cache.layers])
            results.append((values[r, list(row.positions)].tolist() if row.positions else [], own))
        return results


def _past_length(row: _Row) -> int:
    return 0 if row.past is None else len(row.past.input_ids)


def _padded_past(rows: list[_Row], pasts: list[int], width: int) -> torch.Tensor:
    """(layers, 2, batch, kv_heads, width, head_dim): each row's past, left-padded with zeros."""
    template = next(segment for row in rows if row.past is not None for segment in row.past.segments())
    layers, _, heads, _, head_dim = template.shape
    padded = template.new_zeros((layers, 2, len(rows), heads, width, head_dim))
    for r, (row, past) in enumerate(zip(rows, pasts)):
        offset = width - past
        for segment in row.past.segments() if row.past is not None else ():
            padded[:, :, r, :, offset : offset + segment.shape[3]] = segment
            offset += segment.shape[3]
    return padded
