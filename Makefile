# aistack developer entry points. `make demo` and `make test` each do their own setup.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv is rebuilt when the dependency list changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
OUT ?= out

.PHONY: setup test unit lint bench demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing aistack with dev extras"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

lint: setup
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@echo "==> mypy (strict)"
	@$(VENV)/bin/mypy

unit: setup
	@echo "==> pytest"
	@$(PY) -m pytest

test: lint unit

bench: setup
	@$(PY) -m benchmarks.plan_scale

# The main job on the embedded default stack (`local`): no cloud account needed.
demo: setup
	@$(VENV)/bin/aistack validate local
	@$(VENV)/bin/aistack plan local
	@$(VENV)/bin/aistack manifests local --out $(OUT)/local

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache .hypothesis
