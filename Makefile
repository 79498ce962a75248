# shopgraph developer tasks.
#
#   make test                  run the test suite (embedded moto server; needs node and npm,
#                              and installs Chromium with apt-get when run as root)
#   make serve                 run the API with demo data (embedded in-memory DynamoDB);
#                              HOST / PORT from the environment or `make serve PORT=9000`
#   make test-dynamodb-local   run the test suite against DynamoDB Local (also needs java)
#   make lint                  ruff check + ruff format --check
#   make format                apply ruff's fixes and formatting
#   make bench                 bench/run.py $(BENCH_ARGS)
#   make clean                 remove the venv, caches and build output
#
# Extra arguments: PYTEST_ARGS='-k cart -x', BENCH_ARGS='...', SERVE_ARGS='...'.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
STAMP := $(VENV)/.installed
DYNAMODB_LOCAL := scripts/dynamodb-local.sh
# GraphiQL's browser assets, from graphiql/package-lock.json; served at /graphiql/.
GRAPHIQL_STAMP := graphiql/node_modules/.package-lock.json

PYTEST_ARGS ?=
BENCH_ARGS ?=
SERVE_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup chromium serve test test-dynamodb-local lint format bench clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Re-install only when the dependency inputs change.
$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "error: python3.11 (or python3) not found" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -c requirements.lock -e '.[dev]'
	@touch $@

# Without npm the server still runs; its GraphiQL page then loads these from the internet.
$(GRAPHIQL_STAMP): graphiql/package.json graphiql/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd graphiql && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "warning: npm not found; GraphiQL will load its assets from the internet" >&2; fi

setup $(VENV): $(STAMP) $(GRAPHIQL_STAMP)

chromium:
	@bash scripts/chromium.sh

serve: $(STAMP) $(GRAPHIQL_STAMP)
	$(VENV)/bin/shopgraph serve --seed-demo $(SERVE_ARGS)

test: $(STAMP) $(GRAPHIQL_STAMP) chromium
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Starts DynamoDB Local on a free loopback port, runs the suite against it, and
# always stops it afterwards (by the PID the script recorded), keeping pytest's
# exit status. One that was already running (`scripts/dynamodb-local.sh start`
# by hand) is used and left running.
test-dynamodb-local: $(STAMP) $(GRAPHIQL_STAMP) chromium
	@if bash $(DYNAMODB_LOCAL) status >/dev/null 2>&1; then owned=0; else owned=1; fi; \
	endpoint="$$(bash $(DYNAMODB_LOCAL) start | tail -n 1)"; \
	if [ "$$owned" = 1 ]; then trap 'bash $(DYNAMODB_LOCAL) stop' EXIT; \
	else echo "using the DynamoDB Local that was already running; leaving it running"; fi; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	case "$$endpoint" in http://127.0.0.1:*) ;; *) echo "error: no DynamoDB Local endpoint" >&2; exit 1;; esac; \
	echo "SHOPGRAPH_TEST_ENDPOINT=$$endpoint $(VENV)/bin/pytest $(PYTEST_ARGS)"; \
	SHOPGRAPH_TEST_ENDPOINT="$$endpoint" $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

clean:
	@if [ -f .cache/dynamodb-local/pid ]; then bash $(DYNAMODB_LOCAL) stop; fi
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache build dist *.egg-info graphiql/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
