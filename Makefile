# Release Warden: `make run` brings the local platform up and runs each flow once;
# `make test` runs the whole suite. Both install what they need into .venv first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run stop test lint bench install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip check
	touch $(STAMP)

run: $(STAMP)
	$(PY) deployments/local/bootstrap.py up

stop:
	@if [ -x $(PY) ]; then $(PY) deployments/local/bootstrap.py down; else echo "nothing to stop"; fi

# The readiness integration test runs a real Prometheus (Debian's package): required in CI.
PROMETHEUS := /usr/bin/prometheus
$(PROMETHEUS):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus

test: $(STAMP) $(PROMETHEUS)
	WARDEN_REQUIRE_PROMETHEUS=1 $(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/gates_parallel.py
	$(PY) bench/classify_scale.py
	$(PY) bench/trend_query.py
	$(PY) bench/matrix_parallel.py
	$(PY) bench/gauntlet_runner.py
	$(PY) bench/event_publisher.py
