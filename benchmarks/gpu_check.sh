#!/usr/bin/env bash
# GPU check: the GPU-marked tests, then the speed benchmarks on a random ~0.5B model, in < 8 min.
#
# Usage, from anywhere (it runs in the repository root):
#   bash benchmarks/gpu_check.sh                 # CUDA machine: tests + benchmarks, table last
#   bash benchmarks/gpu_check.sh --cpu-smoke     # no GPU: the GPU checks and benchmarks on the CPU,
#                                                #   tiny model (bf16 on the CPU stands in for CUDA's)
#   bash benchmarks/gpu_check.sh -- --budget-s 300 --parts scoring   # after --: gpu_check.py flags
# Without CUDA (and without --cpu-smoke) it prints "skipped" and exits 0.
#
# Needs only torch and transformers (numpy, safetensors, tokenizers, huggingface_hub, tqdm and
# pyyaml come with them); nothing is downloaded: the model is built from a config, the tokenizer
# in-process. Optional packages are used where they import, with a line where they do not:
# - `gpu_check.py --gpu-tests` runs the checks of benchmarks/gpu_checks.py (no pytest needed).
# - datasets + accelerate: the training figure comes from RewardTrainer (prm.training.train);
#   without them from a plain loop over RewardModel and prm.training.losses ("manual loop").
#
# Carrying wheels to a machine without network (optional; the default path needs none):
#   here:   python -m pip download --no-deps --only-binary=:all: --dest .whl \
#               --python-version 3.11 --platform manylinux2014_x86_64 \
#               pytest iniconfig pluggy pygments \
#               accelerate psutil datasets dill multiprocess xxhash pyarrow pandas \
#               python-dateutil pytz tzdata six
#           (--no-deps, so that pip never fetches torch; match the target's Python and platform;
#            .whl/ must travel with the tree: the device tool's carry=[".whl"] where it is ignored)
#   there:  this script installs .whl/*.whl with --no-index --no-deps when .whl/ exists.
# Writes runs/gpu_check.json (figures, card, date): record them in BENCHMARKS.md.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"

smoke=0
if [ "${1:-}" = "--cpu-smoke" ]; then smoke=1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    if [ "$smoke" = 0 ]; then
        echo "gpu_check: skipped: no CUDA device (torch.cuda.is_available() is False); --cpu-smoke runs the tiny CPU path"
        exit 0
    fi
    bench_args=(--device cpu --size tiny)
else
    bench_args=(--device cuda)
    "$PYTHON" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(), 'torch', torch.__version__)"
fi

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check: installing the carried wheels in .whl/ (no index, no dependencies)"
    "$PYTHON" -m pip install -q --no-index --no-deps .whl/*.whl || echo "gpu_check: wheel install failed; going on without"
fi

start=$(date +%s)
status=0
if [ "$smoke" = 1 ]; then  # pytest would skip them all: run the checks themselves on the CPU
    "$PYTHON" benchmarks/gpu_check.py --gpu-tests --device cpu || status=1
else  # the checks of benchmarks/gpu_checks.py (tests/test_gpu.py runs this same command)
    "$PYTHON" benchmarks/gpu_check.py --gpu-tests --device cuda || status=1
fi
echo "gpu_check: tests took $(( $(date +%s) - start )) s"
"$PYTHON" benchmarks/gpu_check.py "${bench_args[@]}" "$@" || status=1
exit $status  # the benchmark's table is the last thing printed
