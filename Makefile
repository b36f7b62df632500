# Developer entry points. `make demo` runs the main job, `make test` the full suite; both set up everything.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_DIR ?= .run/cluster
export PYTHONPATH := $(CURDIR)/hack
# The one lock: uv.lock. uv itself is bootstrapped (pinned, from PyPI) into the cache outside the repo; it never
# downloads a Python (the machine's python3 is used) and refuses a lock that disagrees with pyproject.toml.
UV_VERSION := 0.13.9
UV_HOME ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/herder/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help venv lock controlplane prometheus chromium up down status lint crds test test-unit test-integration demo bench-serving bench-pipelines clean

help:
	@echo "make demo         the story on the local cluster: train, serve, drift -> retrain -> canary -> promote,"
	@echo "                  a bad version aborted and rolled back, the report (KEEP=1 leaves it running)"
	@echo "make test         lint, type-check, CRD drift check and the full test suite (builds what it needs)"
	@echo "make lock         re-resolve uv.lock after editing pyproject.toml dependencies, and re-export constraints.txt"
	@echo "make up / down    start / stop the local control plane (KUBECONFIG: eval \$$(make -s env))"
	@echo "make controlplane build the control plane binaries into the cache (~12 min cold, then instant)"
	@echo "make prometheus   install Prometheus from Debian when it is not on PATH (Prometheus-provider tests)"
	@echo "make chromium     install Chromium from Debian when it is missing (the report's browser test)"

$(UV):
	$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore --target $(UV_HOME) uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON)
	touch $@

venv: $(VENV)/.installed

# After editing dependencies in pyproject.toml: resolve, install, and export the image's hashed constraints.
lock: | $(UV)
	$(UV) lock --python $(PYTHON)
	$(UV) sync --locked --extra dev --python $(PYTHON)
	$(PY) -m tests.unit.packaging.constraints
	touch $(VENV)/.installed

controlplane:
	bash hack/build-controlplane.sh >/dev/null

# Prometheus from Debian for the Prometheus-provider tests (they start their own on a random loopback port; on a
# machine with systemd the package also enables its own service on :9090, which the tests do not use).
prometheus:
	@if ! command -v prometheus >/dev/null; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing prometheus (Debian package)"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends prometheus >/dev/null; \
	fi

# Chromium from Debian for the browser test of `herder report` (tests/integration/test_report_in_browser.py).
chromium:
	@if ! [ -x /usr/bin/chromium ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing chromium (Debian package)"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null; \
	fi

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

test: venv controlplane prometheus chromium lint
	$(VENV)/bin/herder crds check
	$(PY) -m pytest tests --ignore=tests/bench

test-unit: venv
	$(PY) -m pytest tests/unit

test-integration: venv controlplane prometheus chromium
	$(PY) -m pytest tests/integration

demo: venv controlplane
	$(PY) hack/demo.py

bench-serving: venv
	$(PY) tests/bench/serving/run.py

# The Pipelines herder train writes, served through ONNX and skops, next to MLServer 1.7.1 and KServe 0.21 loading
# the same fitted Pipelines (docs/serving.md, "Compiled inference").
bench-pipelines: venv
	$(PY) -m tests.bench.serving.bench_pipelines

# Issue 12's benchmarks (docs/benchmarks-data.md): a 1,000,000-row parquet validated against a bare pandas read
# (file generated once into ~/.cache/herder/bench-data), then the refresh cost of 100 quiet S3 Datasets on the
# local cluster (~8 min). Tables on stdout, JSON in bench-results/.
.PHONY: bench-data
bench-data: venv controlplane
	$(PY) tests/bench/data/bench_validation.py
	$(PY) tests/bench/data/bench_refresh.py

clean: down
	rm -rf .run
