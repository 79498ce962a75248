# shopgraph developer tasks.
#
#   make test                  run the test suite (embedded moto server)
#   make serve                 run the API with demo data (embedded in-memory DynamoDB);
#                              HOST / PORT from the environment or `make serve PORT=9000`
#   make test-dynamodb-local   run the test suite against DynamoDB Local (needs java, node, npm)
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

PYTEST_ARGS ?=
BENCH_ARGS ?=
SERVE_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup serve test test-dynamodb-local lint format bench clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Re-install only when the dependency inputs change.
$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "error: python3.11 (or python3) not found" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -c requirements.lock -e '.[dev]'
	@touch $@

setup $(VENV): $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/shopgraph serve --seed-demo $(SERVE_ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Starts DynamoDB Local on a free loopback port, runs the suite against it, and
# always stops it afterwards (by the PID the script recorded), keeping pytest's
# exit status. One that was already running (`scripts/dynamodb-local.sh start`
# by hand) is used and left running.
test-dynamodb-local: $(STAMP)
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
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
