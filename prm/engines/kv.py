"""A preallocated KV cache for the transformers engine's decode loop.

Public: `PreallocatedLayer`, `preallocate`.

transformers' `DynamicLayer` grows by `torch.cat` at every decode step, which copies the whole
cache (every layer's keys and values) once per generated token; at batch 64 and a few hundred
tokens of context that copy moves more bytes than the weights do. `PreallocatedLayer` keeps the
keys and values in a buffer with room for the tokens still to come: a decode step writes one
position and returns views of the filled part (the same values `DynamicLayer` would hold, so
attention gives the same results). Rows leave with `batch_select_indices`, which moves the kept
rows to the front of the buffer in place. Layers of other kinds (sliding windows, shared or
linear-attention layers) are left as they are.
"""

from __future__ import annotations

from typing import Any


def _dynamic_layer():
    from transformers.cache_utils import DynamicLayer

    return DynamicLayer


class PreallocatedLayer(_dynamic_layer()):  # type: ignore[misc]
    """A full-attention layer cache: buffers (rows, heads, capacity, head_dim); `keys` and
    `values` are views of the first `length` positions of the first `rows` rows.

    capacity grows (one copy) only when a write would pass it; `max_capacity` bounds the growth
    steps (the prompt width plus max_new_tokens, where the engine knows it)."""

    GROWTH = 256  # positions added at a time, where max_capacity does not say how many are needed

    def __init__(self, keys: Any, values: Any, capacity: int, index: Any = None):
        super().__init__()
        rows = keys.shape[0] if index is None else int(index.shape[0])
        length = keys.shape[-2]
        capacity = max(capacity, length)
        self.device = keys.device
        self._keys = keys.new_empty((rows, keys.shape[1], capacity, keys.shape[-1]))
        self._values = values.new_empty((rows, values.shape[1], capacity, values.shape[-1]))
        if index is None:
            self._keys[:, :, :length] = keys
            self._values[:, :, :length] = values
        else:
            self._keys[:, :, :length] = keys.index_select(0, index)
            self._values[:, :, :length] = values.index_select(0, index)
        self.rows, self.length = rows, length
        self.is_initialized = True
        self._views()

    def _views(self) -> None:
        self.keys = self._keys[: self.rows, :, : self.length]
        self.values = self._values[: self.rows, :, : self.length]

    def _grow(self, needed: int) -> None:
        capacity = max(needed, self._keys.shape[2] + self.GROWTH)
        for name in ("_keys", "_values"):
            old = getattr(self, name)
            new = old.new_empty(old.shape[:2] + (capacity,) + old.shape[3:])
            new[: self.rows, :, : self.length] = old[: self.rows, :, : self.length]
            setattr(self, name, new)

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any):
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[2]:
            self._grow(end)
        self._keys[: self.rows, :, self.length : end] = key_states
        self._values[: self.rows, :, self.length : end] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: Any) -> None:
        """Keep rows `indices` (in that order), moved to the front of the buffer."""
        kept = int(indices.shape[0])
        for name in ("_keys", "_values"):
            buffer = getattr(self, name)
            buffer[:kept, :, : self.length] = buffer[indices, :, : self.length]
        self.rows = kept
        self._views()

    def batch_repeat_interleave(self, repeats: int) -> None:
        import torch

        index = torch.arange(self.rows, device=self._keys.device).repeat_interleave(repeats)
        self.__init__(self.keys, self.values, self._keys.shape[2], index)

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative count of tokens to remove")
        self.length = max(0, self.length + tokens_to_remove)
        self._views()

    def reorder_cache(self, beam_idx: Any) -> None:
        self.batch_select_indices(beam_idx.to(self._keys.device))


def preallocate(cache: Any, capacity: int, index: Any = None) -> Any:
    """Replace every plain `DynamicLayer` of a filled `DynamicCache` by a `PreallocatedLayer`
    with room for `capacity` positions, keeping rows `index` (all rows when None; repeated
    indices repeat rows, e.g. one prompt's prefill for its n samples). Other layers get
    `batch_select_indices(index)`. Returns the cache (changed in place)."""
    dynamic = _dynamic_layer()
    for position, layer in enumerate(cache.layers):
        if type(layer) is dynamic and layer.is_initialized and layer.keys is not None and layer.keys.numel():
            cache.layers[position] = PreallocatedLayer(layer.keys, layer.values, capacity, index)
        elif index is not None and hasattr(layer, "batch_select_indices"):
            layer.batch_select_indices(index)
    return cache
