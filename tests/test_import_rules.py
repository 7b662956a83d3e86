"""The layer rules of DESIGN.md, checked on every import statement (parsed, not run).

The top layer is the command-line wing `prm.cli` and the Python API `prm.api` (one call per
task, wiring the same pieces the verbs wire). Core (`prm` outside the top layer) never imports
orm, labeling, search or the top layer, with one exception: the package `prm` itself
(`prm/__init__.py`) names `prm.api` in its PEP 562 `__getattr__`, so that `from prm import
best_of_n` works while `import prm` and every core module load no side package. orm, labeling
and search never import each other or the top layer; nothing in the product imports benchmarks
or tests; benchmarks never import tests or prm.cli (the API is theirs to use); tests never
import benchmarks (they run them as scripts). Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIDE_PACKAGES = ("orm", "labeling", "search")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def _is_cli(module: str) -> bool:
    return module == "prm.cli" or module.startswith("prm.cli.")


def _is_top(module: str) -> bool:
    """The top layer: the CLI wing and the Python API."""
    return _is_cli(module) or module == "prm.api" or module.startswith("prm.api.")


def _forbidden(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported` (None where it may)."""
    home, target = _top(importer), _top(imported)
    if home == "tests":
        return "tests never import benchmarks (they run them as scripts)" if target == "benchmarks" else None
    if home == "benchmarks":
        if target == "tests":
            return "benchmarks never import tests"
        if _is_cli(imported):
            return "benchmarks never import the CLI wing"
        return None
    if target in ("benchmarks", "tests"):
        return f"the product never imports {target}"
    if home == "prm" and not _is_top(importer):
        if target in SIDE_PACKAGES:
            return f"core (prm outside prm.cli and prm.api) never imports {target}"
        if importer == "prm" and imported == "prm.api":
            return None  # the package's lazy re-export of the API (PEP 562 __getattr__)
        if _is_top(imported):
            return "core never imports the top layer (prm.cli, prm.api)"
    if home in SIDE_PACKAGES:
        if target in SIDE_PACKAGES and target != home:
            return f"{home} never imports {target}"
        if _is_top(imported):
            return f"{home} never imports the top layer (prm.cli, prm.api)"
    return None


def _files() -> list[Path]:
    folders = ("prm", *SIDE_PACKAGES, "benchmarks", "tests")
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_import_crosses_a_layer():
    arrows = []
    for path in _files():
        importer = _module_name(path)
        reported: set[tuple[int, str]] = set()
        for line, imported in _imports(path):
            reason = _forbidden(importer, imported)
            # `from a.b import c` is checked as a.b and as a.b.c (c may be a module); say it once.
            if reason and not any(line == seen and imported.startswith(base + ".") for seen, base in reported):
                reported.add((line, imported))
                arrows.append(f"{path.relative_to(ROOT)}:{line}: {importer} -> {imported} ({reason})")
    assert not arrows, "imports against the layer rules:\n" + "\n".join(arrows)


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("prm.scoring", "prm.steps", True),
        ("prm.scoring", "search.voting", False),
        ("prm.sft", "labeling.sampling", False),
        ("prm.cli.search", "search.beam", True),
        ("prm.cli.label", "labeling.runner", True),
        ("search.wiring", "prm.cli.wiring", False),
        ("labeling.sampling", "search.voting", False),
        ("orm.pairs", "prm.records", True),
        ("labeling.cli", "tests.tiny", False),
        ("benchmarks.bench_scoring", "prm.testing", True),
        ("benchmarks.bench_scoring", "tests.tiny", False),
        ("benchmarks.bench_prm_quality", "prm.cli.eval", False),
        ("benchmarks.gpu_check", "benchmarks.bench_scoring", True),
        ("tests.test_gpu", "benchmarks.gpu_checks", False),
        ("tests.test_search_cli", "prm.cli.wiring", True),
        ("prm.api", "search.best_of_n", True),
        ("prm.api", "prm.cli.wiring", True),
        ("prm", "prm.api", True),
        ("prm.scoring", "prm.api", False),
        ("prm.data", "prm.api", False),
        ("search.curves", "prm.api", False),
        ("benchmarks.bench_search", "prm.api", True),
    ],
)
def test_the_rules_themselves(importer, imported, allowed):
    assert (_forbidden(importer, imported) is None) is allowed


def test_relative_imports_are_resolved():
    assert _top("prm.cli.wiring") == "prm"
    path = ROOT / "prm" / "data" / "__init__.py"
    assert all(not module.startswith(".") for _, module in _imports(path))


def test_only_the_cli_wing_parses_arguments():
    # `grep -rn "add_argument\|argparse" prm orm labeling search` finds only prm/cli/.
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("prm", *SIDE_PACKAGES)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not path.relative_to(ROOT).as_posix().startswith("prm/cli/")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "add_argument" in line or "argparse" in line
    ]
    assert not found, f"argument parsing outside prm/cli/: {found}"



def test_importing_prm_loads_no_side_package_and_no_torch():
    # The API is re-exported lazily: `import prm` (which every core module runs) stays light.
    import subprocess
    import sys

    code = ("import sys, prm, prm.records, prm.scores; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'search', 'labeling', 'orm', 'torch', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
