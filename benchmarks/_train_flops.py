"""Model FLOPs of a decoder's training step and the matmul peak of its shapes (for MFU).

Public: `DecoderShape`, `training_flops`, `matmul_peak`, `FlopCounter`.

`training_flops` counts the useful work of forward + backward on the given sequence lengths:
6 FLOPs per weight per token for the decoder's linear layers (q, k, v, o, gate, up, down; the
embedding lookup and the tiny heads are left out) plus causal attention, 12 * heads * head_dim
per (query, key) pair with key <= query, per layer. Padding is not useful work and is never
counted, so a trainer that pads is charged for it in time but not credited in FLOPs.
`matmul_peak` times the same linear shapes as plain float32 matmuls (forward, input gradient and
weight gradient products) on `rows` tokens: the rate a step could reach if it were only those
matmuls, the denominator of MFU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class DecoderShape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int

    @classmethod
    def of(cls, config: Any) -> "DecoderShape":
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(config.num_hidden_layers, config.hidden_size, heads,
                   getattr(config, "num_key_value_heads", None) or heads, head_dim, config.intermediate_size)

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return [(self.hidden, q), (self.hidden, kv), (self.hidden, kv), (q, self.hidden),
                (self.hidden, self.intermediate), (self.hidden, self.intermediate), (self.intermediate, self.hidden)]


def training_flops(lengths: Sequence[int], shape: DecoderShape) -> float:
    """Forward + backward FLOPs of sequences of these lengths (no padding)."""
    per_token = 6 * shape.layers * sum(a * b for a, b in shape.linear_shapes())
    pairs = sum(n * (n + 1) / 2 for n in lengths)
    return per_token * sum(lengths) + 12 * shape.layers * shape.heads * shape.head_dim * pairs


def matmul_peak(shape: DecoderShape, rows: Sequence[int], repeats: int = 3) -> dict[str, Any]:
    """GFLOP/s of the layer's training matmuls at each token count in `rows` (best of
    `repeats` after one warm-up), and the peak over them."""
    import torch

    rates = {}
    for m in rows:
        total_flops = 0.0
        total_s = 0.0
        for k, n in shape.linear_shapes():
            x, w, dy = torch.randn(m, k), torch.randn(k, n), torch.randn(m, n)
            products = ((x, w), (dy, w.t()), (x.t(), dy))  # forward, input grad, weight grad
            best = float("inf")
            for attempt in range(repeats + 1):
                started = time.perf_counter()
                for a, b in products:
                    torch.mm(a, b)
                elapsed = time.perf_counter() - started
                if attempt:
                    best = min(best, elapsed)
            total_flops += 3 * 2 * m * k * n
            total_s += best
        rates[str(m)] = total_flops / total_s / 1e9
    return {"gflops_by_rows": rates, "peak_gflops": max(rates.values())}


class FlopCounter:
    """A forward pre-hook that records (time, useful FLOPs, tokens, sequences) of every forward
    call, from a padded batch (attention_mask) or a packed one (cu_seq_lens_q, outcome_positions)."""

    def __init__(self, shape: DecoderShape) -> None:
        self.shape = shape
        self.calls: list[tuple[float, float, int, int]] = []

    def attach(self, model: Any) -> None:
        model.register_forward_pre_hook(self, with_kwargs=True)

    @staticmethod
    def lengths(kwargs: dict) -> list[int]:
        if kwargs.get("cu_seq_lens_q") is not None:
            bounds = kwargs["cu_seq_lens_q"].tolist()
            width = kwargs["input_ids"].shape[-1]
            ends = {int(r) * width + int(c) + 1 for r, c in kwargs["outcome_positions"].tolist()}
            return [b - a for a, b in zip(bounds[:-1], bounds[1:]) if b in ends]  # padding segments left out
        mask = kwargs.get("attention_mask")
        if mask is not None and mask.ndim == 2:
            return [int(v) for v in mask.sum(-1).tolist()]
        ids = kwargs["input_ids"]
        return [ids.shape[-1]] * ids.shape[0]

    def __call__(self, module: Any, args: tuple, kwargs: dict) -> None:
        lengths = self.lengths(kwargs)
        self.calls.append((time.perf_counter(), training_flops(lengths, self.shape), sum(lengths), len(lengths)))

    def between(self, start: float, end: float) -> tuple[float, int, int]:
        """Useful FLOPs, tokens and sequences of the forward calls that began in (start, end)."""
        inside = [call for call in self.calls if start < call[0] < end]
        return tuple(sum(call[i] for call in inside) for i in (1, 2, 3))  # type: ignore[return-value]
