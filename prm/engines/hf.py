"""The transformers generation engine: batched sampling on CPU or GPU with shared prompt prefill.

Public: `ENGINE_IMPLS`, `TransformersEngineConfig`, `TransformersEngine`, `chat_prompt`.

`TransformersEngine.generate(prompts, sampling, seeds=None)` returns, per prompt, `sampling.n`
completions. The n samples of one prompt share its prefill: the prompt's KV cache is computed
once (one row per prompt, left padded) and its rows are then repeated n times before decoding;
`share_prefill=False` prefills every sample's own copy of the prompt instead (same results, more
compute; kept for measurement). Sampling is a plain loop (temperature, top-p, greedy at
temperature 0) with one seeded `torch.Generator` per sample row, so completion j of prompt i
depends only on (seed of prompt i, j), never on the global torch seed or on what else shares
the batch. Stop strings are checked on the decoded tail of each row after every token.

Two decode loops (`TransformersEngineConfig.impl`), which draw the same tokens from the same
logits with the same per-row random streams (`tests/test_engines.py` checks that they give the
same completions):
- "fast" (the default): the KV cache is preallocated (`prm.engines.kv.PreallocatedLayer`: one
  write per step instead of transformers' `torch.cat` of the whole cache), so is the attention
  mask; the sampling step works in place; the stop-string tails of all rows are decoded in one
  tokenizer call; finished rows stay in the batch (their tokens are dropped) until at least
  `compact_fraction` of the rows are finished, and then leave it in one in-place compaction.
- "reference": the loop before that change (a `DynamicCache` grown by concatenation, a
  compaction as soon as any row finishes), kept for the same-run comparison of
  `benchmarks/bench_engines.py`.
Both are exact in the sense the tests check on a tiny model; on a real model a different batch
shape may change a float rounding and, rarely, a sampled token (as any change of batch does).

`rows_per_call` records the rows (prompts x n) of every `generate` call and `rows_per_batch`
those of every decode batch (at most batch_size), for the benchmarks' rows-per-call figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from prm.engines.base import Completion, SamplingConfig, row_seed
from prm.engines.prompts import chat_prompt, encode_prompt

ENGINE_IMPLS = ("fast", "reference")


@dataclass(frozen=True)
class TransformersEngineConfig:
    """batch_size: most sample rows decoded together (prompts x samples).
    share_prefill: compute each prompt's KV cache once and repeat it for its n samples.
    chat_template: wrap every prompt as one user message with the tokenizer's chat template.
    system_prompt: a system message placed before it (only with chat_template).
    impl: the decode loop, "fast" or "reference" (see the module docstring).
    compact_fraction: (fast loop) finished rows leave the batch once they are at least this
        share of its rows (0 compacts at every finish, as the reference loop does).
    """

    batch_size: int = 64
    share_prefill: bool = True
    chat_template: bool = False
    system_prompt: str | None = None
    impl: str = "fast"
    compact_fraction: float = 0.125

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(
                f"TransformersEngineConfig.batch_size must be an int >= 1, got {self.batch_size!r}"
            )
        if self.system_prompt is not None and not self.chat_template:
            raise ValueError("TransformersEngineConfig.system_prompt needs chat_template=True")
        if self.impl not in ENGINE_IMPLS:
            raise ValueError(f"TransformersEngineConfig.impl must be one of {', '.join(ENGINE_IMPLS)}, got {self.impl!r}")
        if not 0 <= self.compact_fraction <= 1:
            raise ValueError(
                f"TransformersEngineConfig.compact_fraction must be in [0, 1], got {self.compact_fraction!r}"
            )


@dataclass
class _Unit:
    """`count` samples (indices start..start+count-1) of prompt `prompt_index`."""

    prompt_index: int
    start: int
    count: int


class TransformersEngine:
    """A `GenerationEngine` over a Hugging Face causal LM and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, config: TransformersEngineConfig | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config or TransformersEngineConfig()
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        if eos is None:
            eos = tokenizer.eos_token_id
        self._cache_arg: str | None = None
        self._eos_ids = set(eos if isinstance(eos, (list, tuple)) else ([] if eos is None else [eos]))
        self.rows_per_call: list[int] = []
        self.rows_per_batch: list[int] = []

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = "embedded",
        config: TransformersEngineConfig | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        cache_dir: str | None = None,
    ) -> "TransformersEngine":
        """Load a causal LM (name, folder or "embedded") with `prm.modeling.loading`."""
        from prm.modeling.loading import load_causal_lm

        model, tokenizer = load_causal_lm(name_or_path, dtype=dtype, cache_dir=cache_dir, device=device)
        model.eval()
        return cls(model, tokenizer, config)

    # ------------------------------------------------------------------ API
    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """For each prompt, `sampling.n` completions in prompt order (see module docstring)."""
        import torch

        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"got {len(seeds)} seeds for {len(prompts)} prompts; give one per prompt")
        if seeds is None:
            base = sampling.seed if sampling.seed is not None else torch.Generator().seed()
            seeds = [row_seed(base, i) for i in range(len(prompts))]
        texts = [self._format(p) for p in prompts]
        special = not self.config.chat_template
        encoded = [encode_prompt(self.tokenizer, t, add_special_tokens=special) for t in texts]
        for index, ids in enumerate(encoded):
            if not ids:
                raise ValueError(f"prompt {index} ({prompts[index]!r}) encodes to no tokens; give a non-empty prompt")
        results: list[list[Completion | None]] = [[None] * sampling.n for _ in prompts]
        self.rows_per_call.append(len(prompts) * sampling.n)
        run = self._generate_batch if self.config.impl == "fast" else self._generate_batch_reference
        for batch in self._plan(len(prompts), sampling.n):
            self.rows_per_batch.append(sum(unit.count for unit in batch))
            done = run(batch, encoded, seeds, sampling)
            for unit, completions in zip(batch, done):
                results[unit.prompt_index][unit.start : unit.start + unit.count] = completions
        return [[c for c in row if c is not None] for row in results]

    # ------------------------------------------------------------- helpers
    def _format(self, prompt: str) -> str:
        if not self.config.chat_template:
            return prompt
        return chat_prompt(self.tokenizer, prompt, self.config.system_prompt)

    def _plan(self, num_prompts: int, n: int) -> list[list[_Unit]]:
        """Pack (prompt, sample range) units into batches of at most batch_size rows."""
        size = self.config.batch_size
        batches: list[list[_Unit]] = []
        current: list[_Unit] = []
        rows = 0
        for index in range(num_prompts):
            start = 0
            while start < n:
                count = min(n - start, size - rows)
                current.append(_Unit(index, start, count))
                rows += count
                start += count
                if rows == size:
                    batches.append(current)
                    current, rows = [], 0
        if current:
            batches.append(current)
        return batches

    def _prefill_inputs(self, units, encoded):
        """(input_ids, attention, positions, expand): the prefill rows, left padded, on the
        model's device; expand: the prefill row of every sample row (None: one row each)."""
        import torch

        device = self.model.device
        if self.config.share_prefill:
            prefill_prompts = [encoded[u.prompt_index] for u in units]
            expand = [i for i, u in enumerate(units) for _ in range(u.count)]
        else:
            prefill_prompts = [encoded[u.prompt_index] for u in units for _ in range(u.count)]
            expand = None
        width = max(len(ids) for ids in prefill_prompts)
        input_ids = torch.full((len(prefill_prompts), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(prefill_prompts), width), dtype=torch.long)
        for row, ids in enumerate(prefill_prompts):
            if ids:
                input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention[row, width - len(ids) :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        return input_ids, attention, positions, expand

    @staticmethod
    def _generators(units, seeds):
        import torch

        generators = []
        for unit in units:
            for j in range(unit.start, unit.start + unit.count):
                generator = torch.Generator(device="cpu")
                generator.manual_seed(row_seed(seeds[unit.prompt_index], j))
                generators.append(generator)
        return generators

    def _new_cache(self):
        from transformers import DynamicCache

        # With the config, layers get the model's cache kinds (sliding-window layers...).
        try:
            return DynamicCache(config=self.model.config)
        except TypeError:  # transformers 4.x
            return DynamicCache()

    def _generate_batch(self, units, encoded, seeds, sampling) -> list[list[Completion]]:
        """The fast loop: prefill, preallocate the cache for the batch's sample rows, decode."""
        import torch

        from prm.engines.kv import preallocate

        input_ids, attention, positions, expand = self._prefill_inputs(units, encoded)
        generators = self._generators(units, seeds)
        device = input_ids.device
        with torch.inference_mode():
            cache = self._new_cache()
            logits = self._forward(input_ids, attention, positions, cache, logits_to_keep=1)
            last_positions = positions[:, -1]
            index = None if expand is None else torch.tensor(expand, dtype=torch.long, device=device)
            width = input_ids.shape[1]
            preallocate(cache, width + sampling.max_new_tokens, index)
            if index is not None:
                logits, attention, last_positions = logits[index], attention[index], last_positions[index]
            mask = attention.new_zeros((attention.shape[0], width + sampling.max_new_tokens))
            mask[:, :width] = attention
            return self._decode_fast(units, logits, cache, mask, width, last_positions, generators, sampling)

    def _generate_batch_reference(self, units, encoded, seeds, sampling) -> list[list[Completion]]:
        """The reference loop: prefill, then decode all rows of `units` to the end.

        input_ids: (prefill_rows, prompt_len) left padded; the cache then holds (rows, ...).
        """
        import torch

        input_ids, attention, positions, expand = self._prefill_inputs(units, encoded)
        generators = self._generators(units, seeds)
        with torch.inference_mode():
            cache = self._new_cache()
            logits = self._forward(input_ids, attention, positions, cache, logits_to_keep=1)
            last_positions = positions[:, -1]
            if expand is not None:
                index = torch.tensor(expand, dtype=torch.long, device=input_ids.device)
                cache.batch_select_indices(index)
                logits, attention, last_positions = logits[index], attention[index], last_positions[index]
            return self._decode(units, logits, cache, attention, last_positions, generators, sampling)

    def _forward(self, input_ids, attention, positions, cache, **extra):
        """Next-token logits (rows, vocab); `cache` (a DynamicCache) is updated in place.
        transformers 5 names the cache argument `cache`, 4.x `past_key_values`."""
        if self._cache_arg is None:
            import inspect

            parameters = inspect.signature(self.model.forward).parameters
            self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            **{self._cache_arg: cache},
            **extra,
        )
        return out.logits[:, -1, :]

    def _decode_fast(self, units, logits, cache, mask, length, last_positions, generators, sampling):
        """The fast sampling loop. logits: (rows, vocab) for the next token; mask: (rows,
        capacity) with the first `length` positions filled; `present` maps batch rows to the
        original rows (finished ones included until the next compaction)."""
        import math

        import torch

        num_rows = logits.shape[0]
        tokens: list[list[int]] = [[] for _ in range(num_rows)]
        finished: list[Completion | None] = [None] * num_rows
        present = list(range(num_rows))
        max_stop = max((len(s) for s in sampling.stop), default=0)
        tail = 4 * max_stop + 4
        for step in range(sampling.max_new_tokens):
            next_ids = self._sample(logits, [generators[r] for r in present], sampling, in_place=True)
            last = step == sampling.max_new_tokens - 1
            candidates = []  # rows that may be done after this token: _finish decides
            stop_rows = []
            for row, token in zip(present, next_ids.tolist()):
                if finished[row] is not None:
                    continue
                tokens[row].append(token)
                if last or token in self._eos_ids:
                    candidates.append(row)
                elif max_stop:
                    stop_rows.append(row)
            if stop_rows:  # the tails of all rows in one tokenizer call; _finish re-checks hits
                tails = self.tokenizer.batch_decode([tokens[r][-tail:] for r in stop_rows], skip_special_tokens=True)
                candidates += [r for r, text in zip(stop_rows, tails) if any(s in text for s in sampling.stop)]
            for row in candidates:
                finished[row] = self._finish(tokens[row], tokens[row][-1], sampling, max_stop, last)
            alive = [p for p, row in enumerate(present) if finished[row] is None]
            if not alive:
                break
            dead = len(present) - len(alive)
            if dead and dead >= max(1, math.ceil(self.config.compact_fraction * len(present))):
                index = torch.tensor(alive, dtype=torch.long, device=logits.device)
                cache.batch_select_indices(index)
                mask, last_positions, next_ids = mask[index], last_positions[index], next_ids[index]
                present = [present[p] for p in alive]
            mask[:, length] = 1
            length += 1
            last_positions = last_positions + 1
            logits = self._forward(
                next_ids.view(-1, 1).to(logits.device), mask[:, :length], last_positions.view(-1, 1), cache
            )
        return self._group(units, finished)

    @staticmethod
    def _group(units, finished) -> list[list[Completion]]:
        grouped: list[list[Completion]] = []
        row = 0
        for unit in units:
            grouped.append([c for c in finished[row : row + unit.count] if c is not None])
            row += unit.count
        return grouped

    def _decode(self, units, logits, cache, attention, last_positions, generators, sampling):
        """The sampling loop over rows; logits: (rows, vocab) for the next token."""
        import torch

        num_rows = logits.shape[0]
        tokens: list[list[int]] = [[] for _ in range(num_rows)]
        finished: list[Completion | None] = [None] * num_rows
        active = list(range(num_rows))  # original row index of each live batch row
        max_stop = max((len(s) for s in sampling.stop), default=0)
        for step in range(sampling.max_new_tokens):
            next_ids = self._sample(logits, [generators[r] for r in active], sampling)
            keep: list[int] = []
            for position, row in enumerate(active):
                token = int(next_ids[position])
                tokens[row].append(token)
                done = self._finish(tokens[row], token, sampling, max_stop, last=step == sampling.max_new_tokens - 1)
                if done is None:
                    keep.append(position)
                else:
                    finished[row] = done
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, dtype=torch.long, device=logits.device)
                cache.batch_select_indices(index)
                attention, last_positions, next_ids = attention[index], last_positions[index], next_ids[index]
                active = [active[p] for p in keep]
            attention = torch.cat([attention, attention.new_ones((len(active), 1))], dim=1)
            last_positions = last_positions + 1
            logits = self._forward(
                next_ids.view(-1, 1).to(logits.device), attention, last_positions.view(-1, 1), cache
            )
        return self._group(units, finished)

    def _sample(self, logits, generators, sampling, in_place: bool = False):
        """Next token per row: (rows,) int64 on CPU. Inverse-CDF sampling with one uniform per
        row from that row's own generator, so rows never share a random stream.

        logits: (rows, vocab) on the model's device; the work stays there. The vocabulary is
        sorted only for top-p < 1: inverse-CDF sampling needs no order, and a sort of every
        row's full vocabulary at every step cost as much as the forward pass itself.
        in_place: divide by the temperature and sum the CDF in place (the same values, two
        vocabulary-sized buffers fewer per step); `logits` is then overwritten.
        """
        import torch

        logits = logits.float()
        if sampling.temperature == 0:
            return logits.argmax(-1).cpu()
        if not in_place:
            logits = logits / sampling.temperature
        elif sampling.temperature != 1:
            logits.div_(sampling.temperature)
        probs = torch.softmax(logits, dim=-1)
        order = None
        if sampling.top_p < 1.0:
            # Keep the smallest prefix whose mass reaches top_p (the top token always stays).
            probs, order = probs.sort(dim=-1, descending=True)
            before = probs.cumsum(-1) - probs
            probs = probs.masked_fill(before >= sampling.top_p, 0.0)
        cdf = probs.cumsum_(-1) if in_place else probs.cumsum(-1)
        uniforms = torch.cat([torch.rand(1, generator=g) for g in generators]).to(cdf.device)
        picks = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(-1)).clamp(max=cdf.shape[1] - 1)
        tokens = picks if order is None else order.gather(1, picks)
        return tokens.squeeze(-1).cpu()

    def _finish(self, ids: list[int], token: int, sampling, max_stop: int, last: bool) -> Completion | None:
        """The completion if this row is done after `token`, else None."""
        if token in self._eos_ids:
            text = self.tokenizer.decode(ids[:-1], skip_special_tokens=True)
            return Completion(text=text, num_tokens=len(ids), finish_reason="stop")
        if max_stop:
            # A stop string completed by this token lies in the last few tokens' text (a
            # character may take up to 4 byte-level tokens).
            tail = self.tokenizer.decode(ids[-(4 * max_stop + 4) :], skip_special_tokens=True)
            if any(s in tail for s in sampling.stop):
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                hits = [(text.find(s), s) for s in sampling.stop if s in text]
                cut, stop_string = min(hits)
                return Completion(
                    text=text[:cut], num_tokens=len(ids), finish_reason="stop", stop_string=stop_string
                )
        if last:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            return Completion(text=text, num_tokens=len(ids), finish_reason="length")
        return None
