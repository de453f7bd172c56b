# Two commands do everything on a fresh machine:
#   make demo   create .venv, install labledger, run the demo study
#   make test   install the dev tools, then lint, type-check and run the whole test suite
# (make bench runs the peer benchmarks in a separate environment.)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-workspace

.PHONY: demo test lint typecheck unit bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[ml]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	$(BIN)/labledger demo --path $(DEMO_DIR)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/ruff format --check src tests benchmarks scripts examples
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered -q -n 2 --dist loadscope

unit: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/unit -q

docs: $(VENV)/.installed-dev
	$(BIN)/python scripts/gen_cli_docs.py

.venv-bench/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: .venv-bench/.installed
	.venv-bench/bin/python benchmarks/bench_tracking.py
	.venv-bench/bin/python benchmarks/bench_store.py
	.venv-bench/bin/python benchmarks/bench_pipeline.py
	.venv-bench/bin/python benchmarks/bench_file_inputs.py
	.venv-bench/bin/python benchmarks/bench_verify.py --quick

clean:
	rm -rf $(VENV) .venv-bench $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache .coverage
