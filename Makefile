# Set-up commands for a fresh machine; both create .venv themselves.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test dev lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

# Materialize every asset on the embedded default (embedded PostgreSQL + generated sample data).
run: $(STAMP)
	$(VENV)/bin/invest-assets build

# The whole test suite against an embedded PostgreSQL started by the tests.
test: $(STAMP)
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
