"""The GraphQL endpoint: strawberry's aiohttp view with our request context."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web
from cross_web import HTTPException
from strawberry.aiohttp.views import GraphQLView
from strawberry.http import GraphQLRequestData
from strawberry.types.execution import ExecutionResult, PreExecutionError

from shopgraph.data.cost import CostRecorder
from shopgraph.data.dynamo import Dynamo
from shopgraph.resolvers.context import RequestContext, bearer_token
from shopgraph.schema.trusted_documents import sha256_document_id
from shopgraph.server.http_cache import NotModified
from shopgraph.server.persisted import PersistedQueryError, unknown_document_id
from shopgraph.server.state import ARRIVED, REQUEST_ID, SUMMARY, AppState

GRAPHQL_RESPONSE_TYPE = "application/graphql-response+json"
# A GET carrying any of these is a GraphQL request, never a request for GraphiQL.
GRAPHQL_GET_PARAMETERS = ("query", "extensions", "documentId", "variables", "operationName")
SUB_RESPONSE = web.RequestKey("sub_response", web.Response)
GRAPHQL_RESPONSE = web.ResponseKey("graphql_response", bool)
# A documentId that is not a sha256 one (see parse_http_body).
UNKNOWN_DOCUMENT_ID = web.RequestKey("unknown_document_id", str)


def accepts_graphql_response(accept: str) -> bool:
    """True when the client lists application/graphql-response+json (q > 0)."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() == GRAPHQL_RESPONSE_TYPE:
            return not any(
                p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params
            )
    return False


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 1.0
    return 1.0


def prefers_html(accept: str) -> bool:
    """True when Accept names text/html and ranks it above every media type a
    GraphQL answer could have (JSON ones, and wildcards matching them)."""
    html = answer = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        if media == "text/html":
            html = max(html, _quality(params))
        elif media in ("application/json", GRAPHQL_RESPONSE_TYPE, "application/*", "*/*"):
            answer = max(answer, _quality(params))
    return html > answer


def response_media_type(request: web.Request) -> str:
    """The media type the answer will have (see create_response)."""
    if accepts_graphql_response(request.headers.get("Accept", "")):
        return GRAPHQL_RESPONSE_TYPE
    return "application/json"


def is_request_error(result: ExecutionResult) -> bool:
    if isinstance(result, PreExecutionError):
        return True
    # Variable coercion fails before any field runs: no data, no error with a path.
    return result.data is None and bool(result.errors) and all(not e.path for e in result.errors)


def asks_for_websocket(request: web.Request) -> bool:
    """Whether the request asks to upgrade to a websocket (a subscription)."""
    return "websocket" in request.headers.get("Upgrade", "").lower()


def error_response(status: int, message: str, code: str, **extensions: Any) -> web.Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class ShopGraphQLView(GraphQLView):
    def __init__(self, state: AppState, **kwargs: Any) -> None:
        super().__init__(state.schema, **kwargs)
        self.state = state

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        cache = self.state.http_cache
        response: web.StreamResponse
        try:
            response = await self.run(request=request)
        except NotModified as hit:
            response = cache.not_modified_response(hit)
        except HTTPException as exc:
            # A malformed request is still answered in GraphQL's own shape.
            response = error_response(exc.status_code, exc.reason, "BAD_REQUEST")
        except web.HTTPRequestEntityTooLarge as exc:
            response = error_response(exc.status, "The request body is too large", "BAD_REQUEST")
        return cache.finish(response)

    def is_websocket_request(self, request: web.Request) -> Any:
        # strawberry tries a whole websocket handshake on every request to find
        # out; a request without an Upgrade header is never one.
        if not asks_for_websocket(request):
            return False
        return super().is_websocket_request(request)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # GraphiQL is for a browser asking for a page. A request that carries a
        # GraphQL parameter gets a GraphQL answer, whatever its Accept says
        # (many clients send `*/*`, and strawberry would show them the page).
        if request.method != "GET":
            return False
        if any(request.query_params.get(name) is not None for name in GRAPHQL_GET_PARAMETERS):
            return False
        # A browser's navigation ranks text/html first (then */*;q=0.8); a
        # client that accepts HTML only below JSON wants JSON.
        return prefers_html(request.headers.get("accept", ""))

    async def render_graphql_ide(self, request: web.Request) -> web.Response:
        page = self.state.graphiql
        response = web.Response(text=page.html, content_type="text/html")
        if page.policy:
            response.headers["Content-Security-Policy"] = page.policy
        return response

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # its JSONDecodeError is json's: strawberry's 400 stands

    def encode_json(self, data: object) -> str:
        # Text: websocket messages go out as text frames, as graphql-transport-ws requires.
        return orjson.dumps(data).decode()

    async def parse_http_body(self, request: Any) -> Any:
        # strawberry reads a JSON body as an object (or a batch): a JSON string,
        # number or null would fail inside it as a 500.
        json_post = request.method == "POST" and "application/json" in (request.content_type or "")
        body = self.parse_json(await request.get_body()) if json_post else None
        if json_post and not isinstance(body, (dict, list)):
            raise HTTPException(400, "The request body must be a JSON object")
        request_data = await super().parse_http_body(request)
        # A persisted document by `documentId` (GraphQL over HTTP's name for
        # it), as if sent by Apollo's persistedQuery extension.
        raw = body if isinstance(body, dict) else None
        if request.method == "GET":
            raw = {"documentId": request.query_params.get("documentId")}
        document = (raw or {}).get("documentId")
        if isinstance(request_data, GraphQLRequestData) and document is not None:
            if not isinstance(document, str):
                raise HTTPException(400, "documentId must be a string")
            digest = sha256_document_id(document)
            if digest is None:
                # A custom or otherwise prefixed id names nothing here: answered
                # PERSISTED_QUERY_NOT_FOUND by execute_single.
                request.request[UNKNOWN_DOCUMENT_ID] = document
                return request_data
            persisted = {"version": 1, "sha256Hash": digest}
            extensions = {**(request_data.extensions or {}), "persistedQuery": persisted}
            request_data = replace(request_data, extensions=extensions)
        return request_data

    async def create_websocket_response(
        self, request: web.Request, subprotocol: str | None
    ) -> web.WebSocketResponse:
        websocket = await super().create_websocket_response(request, subprotocol)
        # Remembered so that a graceful stop can close each with a close frame.
        self.state.websockets.add(websocket)
        return websocket

    async def execute_single(self, *, request_data: GraphQLRequestData, **kwargs: Any) -> Any:
        unknown = kwargs["request"].get(UNKNOWN_DOCUMENT_ID)
        if unknown is not None:
            return ExecutionResult(data=None, errors=[unknown_document_id(unknown).error])
        try:
            query = self.state.persisted.resolve(
                request_data.query,
                request_data.extensions,
                self.state.trusted,
                self.state.settings.trusted_only,
            )
        except PersistedQueryError as exc:
            return ExecutionResult(data=None, errors=[exc.error])
        request_data = replace(request_data, query=query)
        # A public GET the client already holds is answered 304 from here,
        # before anything runs (NotModified, caught in __call__).
        request = kwargs["request"]
        self.state.http_cache.consider(
            request, kwargs["sub_response"], request_data, response_media_type(request)
        )
        return await super().execute_single(request_data=request_data, **kwargs)

    async def get_sub_response(self, request: web.Request) -> web.Response:
        response = web.Response()
        request[SUB_RESPONSE] = response
        return response

    async def process_result(self, request: web.Request, result: ExecutionResult) -> Any:
        body = await super().process_result(request, result)
        if not accepts_graphql_response(request.headers.get("Accept", "")):
            return body  # application/json: errors travel in a 200, as clients expect
        response = request[SUB_RESPONSE]
        response[GRAPHQL_RESPONSE] = True
        # A request that never reached execution (it did not parse, validate, or
        # its variables did not coerce) has no data entry and is a 400.
        if is_request_error(result):
            response.set_status(400)
            body.pop("data", None)
        return body

    def create_response(self, response_data: Any, sub_response: web.Response) -> web.Response:
        # The encoded bytes as they are (strawberry's own decodes them to text).
        sub_response.body = orjson.dumps(response_data)
        graphql_response = sub_response.get(GRAPHQL_RESPONSE)
        sub_response.content_type = (
            GRAPHQL_RESPONSE_TYPE if graphql_response else "application/json"
        )
        self.state.http_cache.store(sub_response, response_data)
        return sub_response

    async def get_context(self, request: web.Request, response: Any) -> RequestContext:  # type: ignore[override]
        settings = self.state.settings
        cost = CostRecorder(settings.read_unit_price, settings.write_unit_price)
        # One deadline for all of a request's DynamoDB calls, from its arrival;
        # a websocket's context outlives any one deadline.
        deadline = None
        if not asks_for_websocket(request):
            arrived = request.get(ARRIVED) or asyncio.get_running_loop().time()
            deadline = arrived + settings.request_deadline
        return RequestContext(
            settings=settings,
            db=Dynamo(self.state.client, settings.table_name, cost, deadline=deadline),
            cursors=self.state.cursors,
            request_id=request.get(REQUEST_ID, "-"),
            token=bearer_token(request.headers.get("Authorization")),
            request=request,
            response=response,
            broker=self.state.broker,
            metrics=self.state.metrics,
            summary=request.setdefault(SUMMARY, {}),
        )
