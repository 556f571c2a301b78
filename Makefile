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

# Regenerate the key tables of docs/model.md from the schema in abm/config.py.
docs: install
	$(BIN)/python -c "import re,pathlib; from abm.config import schema_markdown as m; p=pathlib.Path('docs/model.md'); t=p.read_text(); a,r=t.split('<!-- schema:start -->\n',1); b=r.split('<!-- schema:end -->',1)[1]; p.write_text(a+'<!-- schema:start -->\n'+m()+'<!-- schema:end -->'+b)"

clean:
	rm -rf $(VENV) build *.egg-info
