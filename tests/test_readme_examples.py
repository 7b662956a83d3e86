"""The README's examples stay true to the code: every `prm VERB ...` command in its bash blocks
parses with that verb's options (nothing runs), and every Python block compiles and imports
names that exist."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest

from prm.cli.main import VERBS, _OneLineParser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands():
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("prm "):
                yield shlex.split(line, comments=True)[1:]


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_has_examples_of_the_new_diagnostics_and_rewards():
    verbs = [argv[:2] for argv in _commands()]
    for wanted in (["serve", "--prm"], ["eval", "overoptimization"], ["eval", "calibration"]):
        assert wanted in verbs, wanted
    assert any("GRPOTrainer" in block for block in _python_blocks())


@pytest.mark.parametrize("argv", list(_commands()), ids=lambda argv: " ".join(argv[:2]))
def test_every_readme_command_parses(argv):
    name = argv[0]
    assert name in VERBS, f"README uses an unknown verb {name!r}"
    parser = _OneLineParser(prog=f"prm {name}")
    VERBS[name][0].add_arguments(parser)
    try:
        parser.parse_args(argv[1:])
    except SystemExit as error:  # argparse names the bad option on stderr
        pytest.fail(f"README command does not parse: prm {' '.join(argv)} (exit {error.code})")


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_every_readme_python_block_compiles_and_its_imports_exist(index):
    tree = ast.parse(_python_blocks()[index])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] in ("prm", "orm", "labeling", "search"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
