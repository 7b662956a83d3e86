"""The generation-engine protocol that labeling and search use.

Public: `SamplingConfig`, `STEP_SAMPLING`, `check_sampling`, `Completion`, `GenerationEngine`,
`generate_seeded`, `row_seed`.

Configs that sample (search's BestOfNConfig and round-based configs, labeling's RolloutConfig)
hold a `SamplingConfig` as their `sampling` field rather than copies of its fields.

Per-prompt seeds: an engine may accept `generate(prompts, sampling, seeds=[...])`, one seed per
prompt, so that completion j of a prompt depends only on (seeds[i], j) and not on what else
shares the batch (a resumed or sharded run then reproduces an uninterrupted one).
`generate_seeded` passes the seeds where the engine accepts them and falls back to the plain call
(seeded by `sampling.seed` only) where it does not.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence, runtime_checkable

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample. temperature 0 means greedy; stop strings end a completion early."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"SamplingConfig.n must be an int >= 1, got {self.n!r}")
        if self.temperature < 0:
            raise ValueError(f"SamplingConfig.temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingConfig.top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(
                f"SamplingConfig.max_new_tokens must be an int >= 1, got {self.max_new_tokens!r}"
            )
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError(f"SamplingConfig.stop must hold non-empty strings, got {self.stop!r}")


STEP_SAMPLING = SamplingConfig(max_new_tokens=128)
"""The default sampling of one search step (n and stop are set per round)."""


def check_sampling(config: object) -> None:
    """Raise ValueError unless `config.sampling` is a SamplingConfig (its own checks ran when it
    was built); for the configs that hold one."""
    sampling = getattr(config, "sampling", None)
    if not isinstance(sampling, SamplingConfig):
        raise ValueError(
            f"{type(config).__name__}.sampling must be a prm.engines.base.SamplingConfig, got {sampling!r}"
        )


@dataclass(frozen=True)
class Completion:
    """One sampled continuation of a prompt.

    text: the generated text, without the stop string that ended it.
    num_tokens: generated tokens (what compute accounting counts).
    finish_reason: "stop" (a stop string or end-of-sequence) or "length" (max_new_tokens hit).
    stop_string: the stop string that ended it, or None (end of sequence, or length).
    """

    text: str
    num_tokens: int
    finish_reason: FinishReason
    stop_string: str | None = None


@runtime_checkable
class GenerationEngine(Protocol):
    def generate(
        self, prompts: Sequence[str], sampling: SamplingConfig
    ) -> list[list[Completion]]:
        """For each prompt, `sampling.n` completions, in prompt order."""
        ...


def row_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (str/int), the same on every machine and run."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _accepts_seeds(engine: object) -> bool:
    try:
        parameters = inspect.signature(engine.generate).parameters  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return False
    return "seeds" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def generate_seeded(
    engine: GenerationEngine,
    prompts: Sequence[str],
    sampling: SamplingConfig,
    seeds: Sequence[int] | None,
) -> list[list[Completion]]:
    """`engine.generate` with one seed per prompt where the engine supports it."""
    if seeds is not None and len(seeds) != len(prompts):
        raise ValueError(f"got {len(seeds)} seeds for {len(prompts)} prompts; give one per prompt")
    if seeds is not None and _accepts_seeds(engine):
        return engine.generate(prompts, sampling, seeds=seeds)  # type: ignore[call-arg]
    return engine.generate(prompts, sampling)
