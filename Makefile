# The two commands a fresh machine needs: `make check STACK=dev` and `make test`.
# Everything else (the .venv, the test tools) is set up on demand and idempotently.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip --disable-pip-version-check -q
STACK   ?= dev
PYTEST_ARGS ?=

.PHONY: setup setup-test test-tools check test bench clean

# Runtime environment: the stamp is rebuilt only when pyproject.toml changes.
$(VENV)/.runtime-stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip==25.3
	$(PIP) install -e .
	touch $@

# Test tools on top of the runtime (pytest, hypothesis, moto, Milvus Lite, validators).
$(VENV)/.test-stamp: $(VENV)/.runtime-stamp
	$(PIP) install -e '.[test]'
	touch $@

setup: $(VENV)/.runtime-stamp

setup-test: $(VENV)/.test-stamp

check: setup
	$(VENV)/bin/aiplat check $(STACK)

# promtool + prometheus (Debian package) for the alert-rule and monitoring tests.
test-tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  { apt-get update && apt-get install -y prometheus; }

test: setup-test test-tools
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup-test
	$(PY) benchmarks/check_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
