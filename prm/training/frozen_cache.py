"""Cached frozen layers: with `train_top_layers=K`, the hidden states that enter the first
trained layer are computed once per row, and training skips the frozen layers.

Public: `FrozenLayerCache`, `CachedStatesCollator`, `CACHE_COLUMN`.

Why by hand: freezing (here, peft, accelerate) still runs the frozen layers' forward at every
step of every epoch, and no library caches their output across epochs for a Trainer run. With
K of L layers trained, a step then costs the top K layers' forward and backward instead of all
L layers' forward plus K layers' backward (on the 30-layer embedded model with K=8, about a
quarter of the arithmetic), which pays from the second epoch on.

How: one no-grad pass over the rows, batched, with a forward pre-hook on layer L-K that keeps
its input and stops the pass there (right-padded, positions counted from the mask, so a row's
states are those of that row alone). In training the lower layers' forward is the identity and
the backbone gets `inputs_embeds` = the cached states, through the reward model's own forward;
the modules stay in place, so checkpoints and the final folder hold the whole model. Before any
step, a self-check compares the cached path's logits with the full forward on the first rows
and refuses where they differ (a backbone that does more than embed -> layers -> norm, such as
one that scales its embeddings).

Limits (refused with a reason where they apply): padded batches only (no packing), no LoRA, no
ProcessBench evaluation during training (it scores whole texts), and the cache lives in memory:
rows x tokens x hidden size x 4 bytes (3,072 rows of ~80 tokens on a 576-wide model: ~0.6 GB).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from prm.modeling.batching import pad_batch

CACHE_COLUMN = "cache_row"


class _Stop(Exception):
    """Raised by the capture hook: nothing above the first trained layer needs computing."""


def _identity(*args: Any, **kwargs: Any) -> Any:
    return args[0] if args else kwargs["hidden_states"]


@dataclass
class FrozenLayerCache:
    """The cached inputs of layer `first_trained` of `layers` (the backbone's decoder stack),
    one (tokens, hidden) float32 tensor per row, in the order of the rows given to `build`."""

    layers: nn.ModuleList
    first_trained: int
    states: list[torch.Tensor]

    @classmethod
    def build(cls, model: nn.Module, layers: nn.ModuleList, top: int, rows: Sequence[Sequence[int]],
              pad_token_id: int, batch_size: int = 16,
              progress: Callable[[int], None] | None = None) -> "FrozenLayerCache":
        """model: the reward model (its forward runs up to the hook); rows: token ids per row;
        progress: called with the number of rows cached after each batch (a bar's update)."""
        first = len(layers) - top
        if not 0 < first < len(layers):
            raise ValueError(f"caching frozen layers needs 1 <= top < {len(layers)} layers, got top={top}")
        captured: list[torch.Tensor] = []

        def hook(module, args, kwargs):
            captured.append((args[0] if args else kwargs["hidden_states"]).detach())
            raise _Stop

        states: list[torch.Tensor | None] = [None] * len(rows)
        device = next(model.parameters()).device
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # little padding per batch
        handle = layers[first].register_forward_pre_hook(hook, with_kwargs=True)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(order), batch_size):
                    chosen = order[start : start + batch_size]
                    input_ids, mask, _ = pad_batch([rows[i] for i in chosen], pad_token_id, "right")
                    captured.clear()
                    with contextlib.suppress(_Stop):
                        model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                    if len(captured) != 1:
                        raise RuntimeError("the backbone never reached its first trained layer")
                    hidden = captured[0].float().cpu()
                    for k, index in enumerate(chosen):
                        states[index] = hidden[k, : len(rows[index])].clone()
                    if progress is not None:
                        progress(min(start + batch_size, len(order)))
        finally:
            handle.remove()
            model.train(was_training)
        return cls(layers, first, states)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def skipping_frozen_layers(self) -> Iterator[None]:
        """Inside: the layers below `first_trained` pass their input through unchanged."""
        lower = list(self.layers)[: self.first_trained]
        for layer in lower:
            layer.forward = _identity
        try:
            yield
        finally:
            for layer in lower:
                del layer.forward

    def nbytes(self) -> int:
        return sum(s.numel() * s.element_size() for s in self.states)

    def check(self, model: nn.Module, rows: Sequence[Sequence[int]], pad_token_id: int, atol: float = 1e-3) -> None:
        """Refuse (ValueError) where the cached path's logits differ from the full forward's on
        these rows (indices 0..len(rows)-1 of the cache)."""
        input_ids, mask, _ = pad_batch(list(rows), pad_token_id, "right")
        device = next(model.parameters()).device
        embeds = _place(self.states[: len(rows)], mask, [0] * len(rows))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                full = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))
                with self.skipping_frozen_layers():
                    cached = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                   inputs_embeds=embeds.to(device))
        finally:
            model.train(was_training)
        keep = mask.bool().to(device)
        step_gap = (full.step_logits - cached.step_logits)[keep].abs().max().item()
        outcome_gap = (full.outcome_logits - cached.outcome_logits).abs().max().item()
        if not max(step_gap, outcome_gap) <= atol:
            raise ValueError(
                f"cached frozen layers change this backbone's outputs (largest logit difference "
                f"{max(step_gap, outcome_gap):.2e} > {atol:g}): it does more than embed -> layers -> norm; "
                "train without --cache-frozen-layers")


def _place(states: Sequence[torch.Tensor], mask: torch.Tensor, offsets: Sequence[int]) -> torch.Tensor:
    """(batch, seq, hidden) zeros with each row's states at its offset."""
    hidden = states[0].shape[-1]
    embeds = torch.zeros(mask.shape[0], mask.shape[1], hidden, dtype=states[0].dtype)
    for row, (state, start) in enumerate(zip(states, offsets)):
        embeds[row, start : start + state.shape[0]] = state
    return embeds


@dataclass(frozen=True)
class CachedStatesCollator:
    """A `RewardCollator`'s batch plus `inputs_embeds`: each row's cached states, placed where
    the collator put its tokens. Rows carry their cache index in `CACHE_COLUMN`."""

    base: Any  # prm.training.collate.RewardCollator
    states: Sequence[torch.Tensor]

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.base(features)
        _, mask, offsets = self.base.pad([f["input_ids"] for f in features])
        chosen = [self.states[int(f[CACHE_COLUMN])] for f in features]
        for feature, state in zip(features, chosen):
            if state.shape[0] != len(feature["input_ids"]):
                raise ValueError(f"cached states of row {feature[CACHE_COLUMN]} have {state.shape[0]} tokens, "
                                 f"the row {len(feature['input_ids'])}")
        batch["inputs_embeds"] = _place(chosen, mask, offsets)
        return batch


def cache_datasets(model: nn.Module, layers: nn.ModuleList, top: int, tokenizer: Any, train_set: Any,
                   eval_set: Any = None, batch_size: int = 16,
                   show_progress: bool = False) -> tuple[FrozenLayerCache, Any, Any]:
    """(cache, train_set, eval_set): the cache of every train row, then every eval row, and the
    datasets with their rows' cache index in `CACHE_COLUMN`; the self-check has passed.
    show_progress: a bar in rows while the cache is built (minutes on a CPU for thousands of rows)."""
    from tqdm.auto import tqdm

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_rows = list(train_set["input_ids"])
    eval_rows = list(eval_set["input_ids"]) if eval_set is not None else []
    rows = train_rows + eval_rows
    with tqdm(total=len(rows), desc="caching frozen layers", unit="row", disable=not show_progress) as bar:
        cache = FrozenLayerCache.build(model, layers, top, rows, pad, batch_size,
                                       progress=lambda done: bar.update(done - bar.n))
    cache.check(model, train_rows[:4], pad)
    train_set = train_set.add_column(CACHE_COLUMN, list(range(len(train_rows))))
    if eval_set is not None:
        eval_set = eval_set.add_column(CACHE_COLUMN, list(range(len(train_rows), len(train_rows) + len(eval_rows))))
    return cache, train_set, eval_set
