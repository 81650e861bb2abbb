# The two commands a fresh machine needs: `make check STACK=dev` and `make test`.
# Everything else (the .venv, the test tools) is set up on demand and idempotently.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip --disable-pip-version-check -q
# Every install into the .venv applies the tested pins (pyproject.toml has only ranges).
CONSTRAINTS := constraints.txt
PIP_INSTALL := $(PIP) install -c $(CONSTRAINTS)
STACK   ?= dev
PYTEST_ARGS ?=
STUB_VENV := .venv-triton-stub
# checkov (tests/test_checkov.py) in its own venv with its own pins: its boto3 pin conflicts with ours.
CHECKOV_VENV := .venv-checkov
CHECKOV_CONSTRAINTS := checkov-constraints.txt
PERF_ANALYZER_DIR := .triton/tritonclient-2.41
# The model repository the shipped stacks publish (their serving.model_repository), built from
# the example model sources; rebuilt whole when a source changes (removed models disappear too).
MODEL_SOURCES := serving/examples/models
MODEL_REPO := build/models
MODEL_SOURCE_FILES := $(shell find $(MODEL_SOURCES) -type f -not -path '*/__pycache__/*' -not -name '*.pyc')

.PHONY: setup setup-test triton checkov-tool test-tools models check test golden bench bench-serving clean

# Runtime environment: aiplat with every extra the README's commands use ([all]: the CLI and
# the policy pack, serving, vectors, AWS). Rebuilt when pyproject.toml or constraints.txt change.
$(VENV)/.runtime-stamp: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip setuptools
	$(PIP_INSTALL) -e '.[all]'
	touch $@

# Test tools on top of the runtime (pytest, hypothesis, moto, Milvus Lite, validators) and the
# local Triton the serving tests run.
$(VENV)/.test-stamp: $(VENV)/.runtime-stamp pyproject.toml $(CONSTRAINTS) $(VENV)/.triton-stamp
	$(PIP_INSTALL) -e '.[test]'
	touch $@

# Real Triton (`aiplat serve`, serving tests): only the nvidia-pytriton wheel's files (its pins
# would pull protobuf 6 and numpy<2 into our venv); the Python-backend stub runs models with
# numpy<2 from its own small venv (numpy 2 there returns empty output tensors). That venv is a
# separate environment with its own pin, so it does not take constraints.txt.
$(VENV)/.triton-stamp: $(VENV)/.runtime-stamp
	$(PIP_INSTALL) --no-deps nvidia-pytriton
	test -x $(STUB_VENV)/bin/python || $(PYTHON) -m venv $(STUB_VENV)
	$(STUB_VENV)/bin/python -m pip --disable-pip-version-check -q install numpy==1.26.4
	touch $@

setup: $(VENV)/.runtime-stamp

setup-test: $(VENV)/.test-stamp

triton: $(VENV)/.triton-stamp

# checkov over every Kubernetes object of every stack (tests/test_checkov.py): a separate
# environment with its own exact pins (checkov-constraints.txt), so it does not take constraints.txt.
$(CHECKOV_VENV)/.stamp: $(CHECKOV_CONSTRAINTS)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip --disable-pip-version-check -q install -c $(CHECKOV_CONSTRAINTS) checkov
	touch $@

checkov-tool: $(CHECKOV_VENV)/.stamp

build/.models-stamp: $(VENV)/.runtime-stamp $(MODEL_SOURCE_FILES)
	rm -rf $(MODEL_REPO)
	$(VENV)/bin/aiplat models build $(MODEL_SOURCES) $(MODEL_REPO)
	touch $@

models: build/.models-stamp

check: setup models
	$(VENV)/bin/aiplat check $(STACK)

# promtool + prometheus (Debian package) for the alert-rule and monitoring tests; amtool +
# alertmanager (prometheus-alertmanager) for the Alertmanager configuration tests.
test-tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  { apt-get update && apt-get install -y prometheus; }
	@command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || \
	  { apt-get update && apt-get install -y prometheus-alertmanager; }

test: setup-test test-tools models checkov-tool
	$(PY) -m pytest $(PYTEST_ARGS)

# Rewrite the golden graphs (tests/golden/<stack>.json) after a deliberate change; review the diff.
golden: setup models
	for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; s=$${s%.yaml}; \
	  $(VENV)/bin/aiplat check $$s --json tests/golden/$$s.json >/dev/null || exit $$?; done

bench: setup-test
	$(PY) benchmarks/check_speed.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build *.egg-info .pytest_cache .hypothesis

# Triton's perf_analyzer for benchmarks/loadtest_vs_perf_analyzer.py: the last tritonclient
# wheel that ships it, in its own directory so the venv keeps tritonclient 2.71 (so no
# constraints.txt here: this tritonclient is deliberately not the pinned one).
$(PERF_ANALYZER_DIR)/bin/perf_analyzer:
	dpkg -s libb64-0d >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq libb64-0d)
	$(PIP) install --no-deps --target $(PERF_ANALYZER_DIR) tritonclient==2.41.0
	touch $@

bench-serving: setup-test $(PERF_ANALYZER_DIR)/bin/perf_analyzer
	$(PY) benchmarks/loadtest_vs_perf_analyzer.py
