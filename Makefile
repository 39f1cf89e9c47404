# Two commands matter: `make run` (demo API on :8001) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_PATH ?= var/model
export MODEL_PATH

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch pinned exactly: a looser spec pulls a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Migrate the SQLite store, load the demo once, train once, then serve on :8001.
run: $(STAMP)
	$(BIN)/jobrec db upgrade
	$(BIN)/jobrec import demo --if-empty
	test -f $(MODEL_PATH)/metadata.json || $(BIN)/jobrec train --out $(MODEL_PATH) --ablations none
	$(BIN)/jobrec serve

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check ml app migrations tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/train_step.py

clean:
	rm -rf var .pytest_cache .ruff_cache
