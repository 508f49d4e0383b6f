# Release Warden: `make run` brings the local platform up and runs each flow once;
# `make test` runs the whole suite. Both install what they need into .venv first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The installer is pinned too: a newcomer needs only Python 3.11 and make.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
LOCK := requirements.lock
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export UV_PYTHON := $(PY)

.PHONY: run stop test lint bench install lock

install: $(STAMP)

$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps uv==$(UV_VERSION)

# Installs exactly the lock (every transitive pin, hash-checked): no resolution happens here.
# A lock older than pyproject.toml's dependencies stops the install with a message.
# Compiled to bytecode once here: every server, worker, flow run and CLI process would
# otherwise compile what it imports again (Prefect's import: 1.97 s -> 1.17 s), and never keep
# it where PYTHONDONTWRITEBYTECODE is set (this CI machine sets it).
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(PYTHON) deployments/local/lockfile.py check
	$(UV) pip sync -q --require-hashes --compile-bytecode $(LOCK)
	$(UV) pip install -q --no-deps -e .
	$(PY) -m compileall -q -j 0 blocks cli flows tasks deployments/local
	$(UV) pip check -q
	touch $(STAMP)

# After a change to pyproject.toml's dependencies: re-resolve (current pins are kept where they
# still fit), record pyproject's inputs in the lock, and commit both files.
lock: | $(UV)
	$(UV) pip compile -q pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes -o $(LOCK)
	$(PYTHON) deployments/local/lockfile.py stamp

# WARDEN_DB=postgres (a PostgreSQL cluster under .warden/, basic auth) and WARDEN_WORKERS=N are
# read by the bootstrap: README "Growing to a fleet". make stop stops whatever make run started.
run: $(STAMP)
	$(PY) deployments/local/bootstrap.py up

stop:
	@if [ -x $(PY) ]; then $(PY) deployments/local/bootstrap.py down; else echo "nothing to stop"; fi

# The readiness integration test runs a real Prometheus (Debian's package): required in CI.
PROMETHEUS := /usr/bin/prometheus
$(PROMETHEUS):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus

# The fleet integration test runs the platform on Debian's PostgreSQL 15: required in CI.
PG_CTL := /usr/lib/postgresql/15/bin/pg_ctl
$(PG_CTL):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15

# The chaos drills' disposable platform runs Prefect's Redis messaging on Debian's redis-server.
REDIS_SERVER := /usr/bin/redis-server
$(REDIS_SERVER):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server

# One pytest worker per core; a test file stays on one worker (its module fixtures start once).
test: $(STAMP) $(PROMETHEUS) $(PG_CTL) $(REDIS_SERVER)
	WARDEN_REQUIRE_PROMETHEUS=1 WARDEN_REQUIRE_POSTGRES=1 $(PY) -m pytest -q -p no:cacheprovider \
		-n auto --dist loadfile --durations=15

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
	$(PY) bench/cli_latency.py
	bash bench/install_time.sh
