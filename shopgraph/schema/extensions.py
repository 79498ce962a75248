"""Schema extensions: the cost of each request, and errors with codes."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from shopgraph.errors import ShopError

log = logging.getLogger("shopgraph.errors")

# Phrases graphql-core uses when variable values cannot be coerced.
_VARIABLE_PROBLEMS = ("got invalid value", "was not provided", "of required type")


class DynamoCost(SchemaExtension):
    """Adds `extensions.cost`: DynamoDB calls by operation, capacity, dollars."""

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
        return _copy(error, error.message, {**extensions, **original.extensions})
    if original is None or isinstance(original, GraphQLError):
        if extensions.get("code"):
            return error
        return _copy(error, error.message, {**extensions, "code": _code_for(error)})
    log.error(
        "unexpected error in request %s at %s",
        request_id,
        ".".join(map(str, error.path or [])) or "-",
        exc_info=original,
    )
    return _copy(
        error,
        "Internal server error",
        {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        keep_original=False,
    )


def _copy(
    error: GraphQLError, message: str, extensions: dict[str, Any], keep_original: bool = True
) -> GraphQLError:
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error if keep_original else None,
        extensions=extensions,
    )


class ErrorCodes(MaskErrors):
    """Strawberry's error masking, where every error leaves with a code (see with_code)."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = getattr(self.execution_context.context, "request_id", None)
        return [with_code(e, request_id) for e in errors]
