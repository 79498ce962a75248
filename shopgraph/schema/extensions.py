"""Schema extensions: the cost of each request, and errors with codes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension

from shopgraph.errors import ShopError

log = logging.getLogger("shopgraph.errors")

# Phrases graphql-core uses when variable values cannot be coerced.
_VARIABLE_PROBLEMS = (
    "got invalid value",
    "has invalid value",
    "was not provided",
    "of required type",
)


class SafeParserCache(ParserCache):
    """strawberry's parser cache, minus one flaw: its on_parse raises a syntax
    error before strawberry's own error handling is in place (a websocket
    subscription then ends without the protocol's answer). On a syntax error
    it leaves the document unset, and strawberry parses and reports it as usual."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class DynamoCost(SchemaExtension):
    """Adds `extensions.cost`: DynamoDB calls by operation, capacity, dollars."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        db = getattr(self.execution_context.context, "db", None)
        if db is not None:
            await db.settle()

    def get_results(self) -> dict[str, Any]:
        db = getattr(self.execution_context.context, "db", None)
        cost = getattr(db, "cost", None)
        return {"cost": cost.as_dict()} if cost is not None else {}


def _code_for(error: GraphQLError) -> str:
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable ") and any(
        p in error.message for p in _VARIABLE_PROBLEMS
    ):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def with_code(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """The error as a client may see it, with an `extensions.code`.

    Domain errors keep their code and message. GraphQL's own parse, validation
    and coercion errors get the usual codes. Anything else is unexpected: it is
    logged with the request id and replaced by INTERNAL_SERVER_ERROR carrying
    that id, so no stack trace or DynamoDB message reaches a client.
    """
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, ShopError):
        # In place, so the error keeps its class (transports look at it).
        error.extensions = {**extensions, **original.extensions}
        return error
    if original is None or isinstance(original, GraphQLError):
        if not extensions.get("code"):
            error.extensions = {**extensions, "code": _code_for(error)}
        return error
    log.error(
        "unexpected error in request %s at %s",
        request_id,
        ".".join(map(str, error.path or [])) or "-",
        exc_info=original,
    )
    return GraphQLError(
        message="Internal server error",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


class ErrorCodes(MaskErrors):
    """Strawberry's error masking, where every error leaves with a code (see with_code)."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = getattr(self.execution_context.context, "request_id", None)
        return [with_code(e, request_id) for e in errors]

    def _process_result(self, result: object) -> None:
        # As strawberry's, without its isinstance against a runtime Protocol,
        # which walks the protocol's members on every request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


class MetricsSink(Protocol):
    """Where RequestMetrics counts operations (the server's Prometheus metrics)."""

    def operation_label(self, name: str | None) -> str: ...

    def observe(self, operation: str, ok: bool, seconds: float, cost: Any) -> None: ...


class RequestMetrics(SchemaExtension):
    """Counts each operation into the server's Metrics, and leaves its name and
    cost where the request log line picks them up."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context.context
        metrics: MetricsSink | None = getattr(context, "metrics", None)
        seconds = time.perf_counter() - started
        result = self.execution_context.result
        ok = not (result and result.errors)
        db = getattr(context, "db", None)
        cost = getattr(db, "cost", None)
        name = self.execution_context.operation_name
        if metrics is not None:
            metrics.observe(metrics.operation_label(name), ok, seconds, cost)
        summary = getattr(context, "summary", None)
        if isinstance(summary, dict):
            summary.update(operation=name, ok=ok, cost=cost.as_dict() if cost else None)
