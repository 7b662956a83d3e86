"""Generation engines behind one protocol.

Public: `GenerationEngine`, `SamplingConfig`, `Completion` (from `prm.engines.base`); the
transformers engine (`prm.engines.hf`), the vLLM engine (`prm.engines.vllm`, imported only when
used) and a scripted engine for tests (`prm.engines.scripted`).
"""

from prm.engines.base import Completion, GenerationEngine, SamplingConfig

__all__ = ["Completion", "GenerationEngine", "SamplingConfig"]
