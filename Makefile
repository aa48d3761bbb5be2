# One virtual environment (.venv) holds everything; it is rebuilt when a requirements file
# or pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
REQUIREMENTS := requirements.txt requirements-lambda.txt requirements-local.txt requirements-dev.txt

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): $(REQUIREMENTS) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-local.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

## install: create .venv with everything the app, the tests and the benchmarks need
install: $(STAMP)

## run: start the app on the local backend (http://127.0.0.1:8501); settings in the README
run: install
	$(BIN)/streamlit run app/streamlit_app.py

## test: lint, type-check and run every test
test: lint typecheck unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

typecheck: install
	$(BIN)/mypy

unit: install $(CHROMIUM)
	$(BIN)/pytest

# The browser test drives Debian's Chromium (Playwright's own browser download cannot work
# offline). Installing it needs root, as on CI.
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## bench: every benchmark, printed with ratios against the baselines of the same run
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis artifacts
