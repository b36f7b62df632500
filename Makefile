# Developer entry points. `make demo` runs the main job, `make test` the full suite; both set up everything.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_DIR ?= .run/cluster
export PYTHONPATH := $(CURDIR)/hack

.PHONY: help venv controlplane up down status lint crds test test-unit test-integration demo bench-serving clean

help:
	@echo "make demo         local cluster + operator + the iris example, end to end"
	@echo "make test         lint, type-check, CRD drift check and the full test suite (builds what it needs)"
	@echo "make up / down    start / stop the local control plane (KUBECONFIG: eval \$$(make -s env))"
	@echo "make controlplane build the control plane binaries into the cache (~12 min cold, then instant)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

controlplane:
	bash hack/build-controlplane.sh >/dev/null

up: venv controlplane
	$(PY) -m localcluster up --run-dir $(RUN_DIR)

down:
	$(PY) -m localcluster down --run-dir $(RUN_DIR)

status env:
	@$(PY) -m localcluster $@ --run-dir $(RUN_DIR)

lint: venv
	$(VENV)/bin/ruff check operator tests hack
	$(VENV)/bin/mypy

crds: venv
	$(VENV)/bin/herder crds generate

test: venv controlplane lint
	$(VENV)/bin/herder crds check
	$(PY) -m pytest tests --ignore=tests/bench

test-unit: venv
	$(PY) -m pytest tests/unit

test-integration: venv controlplane
	$(PY) -m pytest tests/integration

demo: venv controlplane
	$(PY) hack/demo.py

bench-serving: venv
	$(PY) tests/bench/serving/run.py

clean: down
	rm -rf .run
