# aistack developer entry points. `make demo` and `make test` each do their own setup.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv is rebuilt when the dependency list changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
OUT ?= out

.PHONY: setup test unit lint bench demo clean sshd shellcheck chromium tools

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

# verify-nodes is tested against a real OpenSSH server; Debian's openssh-server provides it.
sshd:
	@command -v sshd >/dev/null 2>&1 || test -x /usr/sbin/sshd || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing openssh-server (for the verify-nodes SSH tests)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null; }; \
	  else echo "note: no sshd and no root apt-get; the SSH tests of verify-nodes will be skipped"; fi; }

# actionlint checks the `run:` scripts of the workflows with shellcheck; Debian's shellcheck provides it.
shellcheck:
	@command -v shellcheck >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing shellcheck (for actionlint's workflow checks)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >/dev/null; }; \
	  else echo "note: no shellcheck and no root apt-get; actionlint runs without shellcheck"; fi; }

# `recommend --report` is checked in a real browser (tests/test_report.py); Debian's chromium provides it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing chromium (for the recommend --report browser tests)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	  else echo "note: no chromium and no root apt-get; the report's browser tests will be skipped"; fi; }

# checkov and the CrossGuard pack pin dependencies the main venv cannot share (packaging, protobuf).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-3.3.30
$(CHECKOV_STAMP):
	@echo "==> creating $(CHECKOV_VENV) (checkov 3.3.30)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	@touch $@

# The policy pack's own venv, as `pulumi preview --policy-pack policies` would create it.
POLICY_STAMP := policies/venv/.installed-$(shell sha1sum policies/requirements.txt | cut -c1-12)
$(POLICY_STAMP): policies/requirements.txt
	@echo "==> creating policies/venv (pulumi-policy)"
	@test -x policies/venv/bin/python || $(PYTHON) -m venv policies/venv
	@policies/venv/bin/pip install --quiet --disable-pip-version-check -r policies/requirements.txt
	@rm -f policies/venv/.installed-* && touch $@

# The Pulumi engine, the Kubernetes provider and the local cluster's binaries, built from the Go
# module proxy into ~/.cache/aistack/tools (cached: a second run only checks).
tools:
	@scripts/tools.sh >/dev/null

unit: setup sshd shellcheck chromium tools $(CHECKOV_STAMP) $(POLICY_STAMP)
	@echo "==> pytest"
	@$(PY) -m pytest

test: lint unit

bench: setup tools
	@$(PY) -m benchmarks.plan_scale
	@$(PY) -m benchmarks.apply
	@# last: it exits 1 while a command starts slower than 0.3 s, after the others have run
	@$(PY) -m benchmarks.startup

# The main job on the embedded default stack (`local`): no cloud account needed. The real engine
# deploys the platform into a local simulated GPU cluster, then drift is checked.
demo: setup tools
	@$(VENV)/bin/aistack validate local
	@$(VENV)/bin/aistack local up
	@$(VENV)/bin/aistack local deploy
	@$(VENV)/bin/aistack local teams
	@$(VENV)/bin/aistack local drift

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) policies/venv $(OUT) .pytest_cache .mypy_cache .ruff_cache .hypothesis
