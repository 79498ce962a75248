"""The aiohttp application: /graphql, GraphiQL's assets, /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp_cors
from aiohttp import web

from shopgraph.data.dynamo import open_client
from shopgraph.data.paging import CursorCodec
from shopgraph.logs import log_fields
from shopgraph.schema.build import build_schema
from shopgraph.schema.cache_hints import CacheHints
from shopgraph.schema.trusted_documents import TrustedDocuments
from shopgraph.server.admission import AdaptiveLimit, Admission
from shopgraph.server.graphiql import ASSET_PREFIX, asset_handler, build_page
from shopgraph.server.http_cache import HttpCache
from shopgraph.server.persisted import PersistedQueries
from shopgraph.server.readiness import Prepare, readiness
from shopgraph.server.state import ARRIVED, REQUEST_ID, SUMMARY, AppState
from shopgraph.server.view import ShopGraphQLView, asks_for_websocket, error_response
from shopgraph.settings import Settings
from shopgraph.stream.broker import Broker
from shopgraph.stream.live import live_changes

log = logging.getLogger("shopgraph.http")
RETRY_AFTER_SECONDS = 1
STATE = web.AppKey("state", AppState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error in request %s", request_id)
        response = error_response(
            500, "Internal server error", "INTERNAL_SERVER_ERROR", requestId=request_id
        )
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    log_fields(
        log,
        {
            "requestId": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "durationMs": round((time.perf_counter() - started) * 1000, 2),
            **request.get(SUMMARY, {}),
        },
    )
    return response


def overloaded_response(retry_after: int) -> web.Response:
    response = error_response(
        503, f"The server is overloaded; retry in {retry_after} s.", "OVERLOADED"
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


@web.middleware
async def admission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """GraphQL over HTTP runs under the admission limit; subscriptions, probes,
    metrics and GraphiQL's assets do not."""
    if request.path != "/graphql" or asks_for_websocket(request):
        return await handler(request)
    admission = request.app[STATE].admission
    request[ARRIVED] = asyncio.get_running_loop().time()
    if not await admission.acquire():
        # Outside the request log: under overload a line per shed request would
        # cost what shedding saves; the count is in /metrics and logged below.
        _log_shedding(admission)
        return overloaded_response(RETRY_AFTER_SECONDS)
    started = time.monotonic()
    try:
        return await handler(request)
    finally:
        admission.release(started)


def _log_shedding(admission: Admission) -> None:
    shed = admission.shed_to_report()
    if shed:
        log.warning(
            "overloaded: shed %d requests (limit %.0f, %d running, %d waiting)",
            shed,
            admission.limit.current,
            admission.in_flight,
            admission.queued,
        )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[STATE].metrics
    response = web.Response(body=registry.render())
    response.headers["Content-Type"] = registry.content_type
    return response


async def healthz(request: web.Request) -> web.Response:
    # Which process answered: with `serve --workers`, several share the port.
    return web.json_response({"status": "alive", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    assert state.readiness is not None
    probe = await state.readiness.probe()
    if not probe.ready:
        return web.json_response({"status": "unavailable", "reason": probe.reason}, status=503)
    body: dict[str, object] = {"status": "ready", "table": state.settings.table_name}
    if state.changes is not None:
        body["stream"] = state.changes.status()
    return web.json_response(body)


def create_app(
    settings: Settings, endpoint_url: str | None = None, prepare: Prepare | None = None
) -> web.Application:
    """The app; prepare (creating the table, seeding) runs once the store
    answers, for a server started while it could not be reached."""
    trusted = (
        TrustedDocuments.load(settings.trusted_documents) if settings.trusted_documents else None
    )
    schema = build_schema(settings, trusted)
    state = AppState(
        settings=settings,
        schema=schema,
        cursors=CursorCodec(settings.secret),
        graphiql=build_page(settings.graphiql_assets),
        http_cache=HttpCache(
            CacheHints(schema._schema, max_tokens=settings.max_tokens),
            max_age=settings.http_cache_max_age,
            max_entries=settings.http_cache_entries,
            cors=bool(settings.cors_origins),
        ),
        broker=Broker(
            queue_size=settings.subscriber_queue, replay_limit=settings.subscription_replay
        ),
        persisted=PersistedQueries(settings.persisted_queries),
        trusted=trusted,
        admission=Admission(
            AdaptiveLimit(
                limit=min(16, settings.max_in_flight),
                minimum=min(8, settings.max_in_flight),
                maximum=settings.max_in_flight,
            ),
            max_queue=settings.admission_queue,
            queue_timeout=settings.admission_queue_timeout,
        ),
    )
    state.metrics.track_admission(state.admission)
    app = web.Application(
        middlewares=[admission_middleware, request_id_middleware], client_max_size=2 * 1024**2
    )
    app[STATE] = state

    async def dynamo_client(app: web.Application) -> AsyncIterator[None]:
        async with (
            open_client(settings, endpoint_url) as client,
            readiness(settings, endpoint_url, prepare) as ready,
        ):
            state.client = client
            state.readiness = ready
            async with live_changes(settings, client, state.broker, endpoint_url) as changes:
                state.changes = changes
                yield

    app.cleanup_ctx.append(dynamo_client)

    async def close_websockets(app: web.Application) -> None:
        # On SIGTERM: open subscriptions end with a close frame ("going away"),
        # before the stream consumer stops and writes its last checkpoint.
        for websocket in list(state.websockets):
            await websocket.close(code=1001, message=b"server shutting down")

    app.on_shutdown.append(close_websockets)
    view = ShopGraphQLView(state, graphql_ide="graphiql")
    graphql = app.router.add_resource("/graphql")
    routes = [graphql.add_route(method, view) for method in ("GET", "POST")]
    if settings.cors_origins:
        # Browsers on these origins may call the API; aiohttp-cors answers preflights.
        cors = aiohttp_cors.setup(
            app,
            defaults={
                origin: aiohttp_cors.ResourceOptions(
                    allow_headers=("Content-Type", "Authorization", "Accept"),
                    expose_headers=("X-Request-Id",),
                    allow_methods=("GET", "POST"),
                    max_age=600,
                )
                for origin in settings.cors_origins
            },
        )
        for route in routes:
            cors.add(route)
    app.router.add_get(ASSET_PREFIX + "{asset:.+}", asset_handler(state.graphiql))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
