# shopgraph API image. With nothing configured it serves an embedded in-memory
# DynamoDB (moto); set AWS_ENDPOINT_URL_DYNAMODB (plus region and credentials) to
# use a real engine.
#
#   docker build -t shopgraph .
#   docker run --rm -p 8000:8000 shopgraph
# GraphiQL's browser assets, installed from graphiql/'s lock file as `make serve`
# does, so the playground in the image needs no CDN. Only the packages the page
# loads are kept.
FROM node:20-slim AS graphiql
WORKDIR /graphiql
COPY graphiql/package.json graphiql/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node -e 'for (const p of Object.keys(require("./package.json").dependencies)) \
      require("fs").cpSync("node_modules/" + p, "/assets/" + p, { recursive: true })'

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app

# Same install as the Makefile, without the dev extra and not editable: the
# lock file pins every dependency. The source tree is removed afterwards.
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY shopgraph ./shopgraph
RUN pip install -c requirements.lock . \
 && cd / && rm -rf /src

COPY --from=graphiql /assets /opt/shopgraph/graphiql
ENV SHOPGRAPH_GRAPHIQL_ASSETS=/opt/shopgraph/graphiql

WORKDIR /home/app
USER app

ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["shopgraph", "serve"]
