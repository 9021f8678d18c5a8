# Crucible: `make run` (the whole job on embedded defaults) and `make test` (everything CI checks).
# Both set themselves up on a fresh machine with Python 3.11: a .venv, torch (CPU) first,
# then the shared kernel and every service in services/ as editable installs.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
SERVICES := $(sort $(wildcard services/*))
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/crucible/v1/*.proto)
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export DO_NOT_TRACK ?= 1

.PHONY: run test lint contracts proto proto-check unit integration e2e bench chaos manifests dashboards images deploy-tools deploy-check clean help venv native

help:
	@echo "make run    - set up and run the whole pipeline on embedded defaults"
	@echo "make test   - set up and run every check (lint, contracts, unit, integration, e2e)"
	@echo "make bench  - run the benchmarks (JSON with a same-run baseline)"
	@echo "make chaos  - the long chaos suite (random kills; figures as JSON lines starting CHAOS)"
	@echo "make proto  - regenerate crucible.v1 from proto/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip

# torch first, from the CPU wheel on disk; every later install is constrained to it.
$(STAMP): $(BIN)/python Makefile constraints.txt requirements-dev.txt libs/common/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(PIP) torch==2.13.0
	$(PIP) -r requirements-dev.txt
	$(PIP) -e libs/common $(foreach s,$(SERVICES),-e $(s))
	# The old TGI client, a real client the gateway's tests drive: it pins huggingface_hub<1.0
	# but runs with today's, so it comes without its dependencies.
	$(PIP) --no-deps text-generation==0.7.0
	@touch $(STAMP)

venv: $(STAMP) native

# The scrubber's detection rules compiled with mypyc (services/scrubber/.../native.py): a no-op while
# the compiled copy matches the sources. Without a C compiler the scrubber runs as Python, slower.
native: $(STAMP)
	@$(BIN)/crucible scrubber compile || echo "make native: the scrubber's rules were not compiled (above); it runs as Python, about 1.4x slower"

run: $(STAMP) native
	$(BIN)/crucible run

test: $(STAMP) native lint contracts proto-check deploy-tools
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) native
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP) native
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP) native
	$(BIN)/python -m pytest -q tests/e2e

proto: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --python_out=libs/common/src --grpc_python_out=libs/common/src \
	  --mypy_out=libs/common/src --mypy_grpc_out=libs/common/src $(PROTOS)

# Regenerate into a temporary folder and compare: stale generated code fails the build.
proto-check: $(STAMP)
	@tmp=$$(mktemp -d) && \
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m grpc_tools.protoc -Iproto \
	  --python_out=$$tmp --grpc_python_out=$$tmp --mypy_out=$$tmp --mypy_grpc_out=$$tmp $(PROTOS) >/dev/null && \
	for f in $$(cd $$tmp && find . -name '*.py*'); do \
	  cmp -s $$tmp/$$f libs/common/src/$$f || { echo "stale generated code: libs/common/src/$$f (run make proto)"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated contracts are up to date"

bench: $(STAMP) native
	$(BIN)/python bench/run_all.py

# `make test` runs tests/chaos in a short form; this is the long one (override the knobs as needed).
CHAOS_KILLS ?= 30
CHAOS_RECORDS ?= 3000
CHAOS_SEED ?= 25
chaos: $(STAMP) native
	CRUCIBLE_CHAOS_KILLS=$(CHAOS_KILLS) CRUCIBLE_CHAOS_RECORDS=$(CHAOS_RECORDS) CRUCIBLE_CHAOS_SEED=$(CHAOS_SEED) \
	  CRUCIBLE_CHAOS_TIMEOUT_S=900 $(BIN)/python -m pytest -q tests/chaos

# --- deploy: images, chart, manifests (tools pinned in tools/install-deploy-tools.sh) ---
TOOLS := .tools/bin
REGISTRY ?= ghcr.io/crucible
TAG ?= 0.1.0
IMAGES := extractor scrubber scorer dedup dataset trainer evaluator gateway console tgi-dev

$(TOOLS)/helm: tools/install-deploy-tools.sh $(STAMP)
	VENV=$(VENV) tools/install-deploy-tools.sh
	@touch $(TOOLS)/helm

deploy-tools: $(TOOLS)/helm

manifests: deploy-tools
	$(TOOLS)/helm template crucible deploy/helm/crucible --namespace crucible --skip-tests > deploy/k8s/crucible.yaml

dashboards: $(STAMP)
	$(BIN)/python deploy/helm/crucible/dashboards/build.py

images:
	@docker info >/dev/null 2>&1 || { echo "make images needs a Docker engine; CI lints the Dockerfiles (make deploy-check)"; exit 1; }
	for s in $(IMAGES); do DOCKER_BUILDKIT=1 docker build -f docker/$$s.Dockerfile -t $(REGISTRY)/crucible-$$s:$(TAG) . || exit 1; done

deploy-check: deploy-tools
	$(BIN)/python -m pytest -q tests/deploy

clean:
	rm -rf $(VENV) .tools .crucible .pytest_cache .ruff_cache
