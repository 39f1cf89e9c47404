# Two commands matter: `make run` (demo API on :8001) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# torch build: cpu by default; `make install TORCH=cu128` takes a CUDA build (see README)
TORCH ?= cpu
export TORCH
STAMP := $(VENV)/.installed-$(TORCH)
MODEL_PATH ?= var/model
export MODEL_PATH
# where `make lock` finds torch's CPU build (e.g. TORCH_LOCK_SOURCE="--find-links DIR")
TORCH_LOCK_SOURCE ?= --extra-index-url https://download.pytorch.org/whl/cpu

.PHONY: run test test-fast test-docker install lint lock browser bench clean

$(STAMP): pyproject.toml requirements.lock scripts/install.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
	scripts/install.sh $(BIN)/python
	touch $(STAMP)

install: $(STAMP)

# Migrate the SQLite store, load the demo once, train once, then serve on :8001.
run: $(STAMP)
	$(BIN)/jobrec db upgrade
	$(BIN)/jobrec import demo --if-empty
	test -f $(MODEL_PATH)/metadata.json || $(BIN)/jobrec train --out $(MODEL_PATH) --config configs/demo.toml
	$(BIN)/jobrec serve

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The inner loop: unit tests only (no model trained, no server, no browser), on SQLite.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not postgresql" -q

# The docker-compose stack for real: a Docker daemon (started if none runs), the images
# (on base images made from Debian's packages when Docker Hub cannot be reached), up,
# /readyz, the README's request, an event, restart, the data checked, then torn down.
# COMPOSE=docker-compose for Compose v1 (default: `docker compose`, v2, where it works).
test-docker:
	scripts/test-docker.sh

# Debian's Chromium for the browser tests (installed when missing and run as root)
browser:
	scripts/ensure-chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check ml app migrations tests benchmarks
	$(BIN)/ruff format --check ml app migrations tests benchmarks
	$(BIN)/mypy

# Refresh requirements.lock after a change to pyproject.toml (pins kept where allowed);
# `make lock LOCK_ARGS=--upgrade` moves every package to its newest allowed release.
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --index-strategy unsafe-best-match \
	    $(TORCH_LOCK_SOURCE) --no-emit-package torch --no-emit-index-url --no-emit-find-links \
	    --custom-compile-command "make lock" $(LOCK_ARGS) -o requirements.lock

$(BIN)/uv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep '^uv==' requirements.lock)"

bench: $(STAMP)
	$(BIN)/python benchmarks/train_step.py

clean:
	rm -rf var .pytest_cache .ruff_cache
