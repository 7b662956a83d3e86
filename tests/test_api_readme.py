"""The README's Python examples run as written, on tiny in-process models.

The ```python blocks of the README's "## Python API" section are executed in order, in one
namespace, in a temporary folder holding `runs/rm` (a tiny toolkit reward model with both
heads). Names of real models are replaced by tiny folders (`SUBSTITUTES`); each must occur
in the README, so an edited example cannot slip past the substitution.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def _tiny_folders(root: Path) -> dict[str, str]:
    import torch

    from prm.modeling import RewardConfig, RewardModel
    from prm.testing import save_tiny_backbone, tiny_causal_lm, tiny_math_shepherd_prm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=("step", "outcome")))
    with torch.no_grad():
        model.step_head.linear.weight.mul_(8)
    model.save_pretrained(root / "runs" / "rm", tokenizer)
    shepherd, shepherd_tokenizer = tiny_math_shepherd_prm()
    shepherd.save_pretrained(root / "shepherd")
    shepherd_tokenizer.save_pretrained(root / "shepherd")
    return {
        '"embedded"': repr(str(save_tiny_backbone(root / "policy"))),
        '"path/to/math-shepherd-mistral-7b-prm"': repr(str(root / "shepherd")),
    }


@pytest.mark.slow
def test_the_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = _python_blocks("Python API")
    assert len(blocks) >= 3, "the README's Python API section lost its examples"
    monkeypatch.chdir(tmp_path)
    substitutes = _tiny_folders(tmp_path)
    source = "\n".join(blocks)
    for name, tiny in substitutes.items():
        assert name in source, f"the README examples no longer use {name}; update SUBSTITUTES"
        source = source.replace(name, tiny)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(source, str(README), "exec"), namespace)  # noqa: S102 - our own README, not model text
    assert (tmp_path / "runs" / "api" / "bon.jsonl").is_file()
    assert (tmp_path / "runs" / "api" / "labels.jsonl.meta.json").is_file()
    assert len(namespace["frame"]) == 2 * namespace["frame"]["rule"].nunique()
    assert "rm:prm:min" in set(namespace["frame"]["rule"])


def test_the_readme_examples_compile_and_use_the_api():
    blocks = _python_blocks("Python API")
    for block in blocks:
        compile(block, str(README), "exec")
    imported = re.findall(r"from prm import (.+)", "\n".join(blocks))
    assert imported and all(name.strip() in __import__("prm").API for line in imported for name in line.split(","))
