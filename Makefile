# The two commands of the README: `make site` and `make test`. Both create .venv from the
# pinned requirements when it is missing or when a requirements file changed, and do
# nothing more than the build or the tests when it is up to date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: site test check lint browser-tools golden clean lighthouse bench

site: $(VENV)/.runtime-installed
	$(BIN)/python build.py

check: $(VENV)/.runtime-installed
	$(BIN)/python build.py check --strict

test: $(VENV)/.dev-installed lint browser-tools
	$(BIN)/python -m pytest

# What the browser tests drive (Chromium, axe-core, the Nu HTML checker), outside the repository:
# installed when missing (Debian packages need root or sudo), checked in about a second when not.
browser-tools:
	bash scripts/install-browser-tools.sh

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check constat build.py tests
	$(BIN)/mypy

# Regenerate the expected pages of tests/golden/ after an intended change; review the diff.
golden: $(VENV)/.dev-installed
	$(BIN)/python -m tests.golden

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

clean:
	rm -rf site .site.staging .site.old .site.back .site.cache $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Lighthouse scores of the home and a claim page, mobile and desktop (slow: not part of `make test`).
# Needs `bash scripts/install-browser-tools.sh` first.
lighthouse: $(VENV)/.runtime-installed
	bash scripts/lighthouse.sh

# Time Constat against floor.py (and Hugo, Pelican with BENCH_ARGS="--peers") on the shared synthetic
# corpus; writes bench/results.md. Slow (minutes), not part of `make test` or CI.
BENCH_ARGS ?= --sizes 100,300
bench: $(VENV)/.runtime-installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)
