# The two commands of the README: `make reproduce` and `make test`.
# Both create .venv on first use; torch 2.13.0 is installed first so that
# pip takes the CPU build instead of resolving a multi-GB CUDA one.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hepda-installed
PYTEST_FLAGS ?=
SCALE ?= quick
OUT ?= reproduce-out

.PHONY: install test reproduce lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_FLAGS)

reproduce: $(STAMP)
	$(BIN)/hepda reproduce --scale $(SCALE) --out $(OUT) --overwrite

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
