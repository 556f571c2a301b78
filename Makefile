# The two commands a newcomer types: `make run` and `make test`.
# Everything the project needs is installed here, into .venv, from PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: run test lint bench docs clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes (the stamp name carries its hash).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/abm run experiments/baseline_2021.toml

test: install
	$(BIN)/ruff check abm tests benchmarks
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check abm tests benchmarks
	$(BIN)/ruff format --check abm tests benchmarks

bench: install
	$(BIN)/python -m benchmarks --out results/bench.json

# Regenerate what docs/ generates from the code: the key tables of docs/model.md and the
# ODD+D tables of docs/odd.md (from the schema in abm/scenario/schema.py, the outcome
# record and the baseline) and the error catalogue of docs/errors.md (from the bad-input
# corpus).
docs: install
	$(BIN)/python docs/scripts/schema_tables.py --write
	$(BIN)/python docs/scripts/error_catalogue.py --write

clean:
	rm -rf $(VENV) build *.egg-info
