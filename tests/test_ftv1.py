"""Federated tracing (ftv1): a gateway that asks gets the subgraph's trace."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from shopgraph.schema.build import build_schema
from shopgraph.schema.federation_tracing import FederatedTracing
from tests.conftest import Api, put_items
from tests.factories import product
from tests.ftv1 import decode, fields
from tests.reviews_subgraph import REVIEWS, node_gateway, reviews_server

ASK = {"apollo-federation-include-trace": "ftv1"}
QUERY = '{ product(id: "prod-1") { name price } order(id: "nope") { number } }'


async def _answer(api: Api, **headers: str) -> dict[str, Any]:
    response = await api.post({"query": QUERY}, **headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_gateway_that_asks_gets_the_fields_timings_and_errors(api: Api, db: Any) -> None:
    await put_items(db, [product(1).to_item()])
    before = time.time()
    body = await _answer(api, **ASK)

    # The answer is the same as without the header, plus the trace.
    assert body["data"]["product"]["name"] == "Product 1"
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    trace = decode(body["extensions"]["ftv1"])
    assert before - 1 <= trace.start_time.seconds <= trace.end_time.seconds <= time.time() + 1
    assert trace.duration_ns > 0
    nodes = dict(fields(trace.root))
    # Fields with a resolver of their own are timed; plain attributes read off
    # their parent are not (strawberry skips default resolvers, as Apollo's
    # own subgraph libraries do for trivial ones).
    assert set(nodes) == {"product", "order"}
    found = nodes["product"]
    assert (found.parent_type, found.type) == ("Query", "Product")
    assert 0 < found.start_time <= found.end_time <= trace.duration_ns
    # The refused field carries its error, where it was asked.
    [error] = nodes["order"].error
    assert error.message == body["errors"][0]["message"] == "Sign in to see this"
    assert (error.location[0].line, error.location[0].column) == (1, 40)
    assert json.loads(error.json)["path"] == ["order"]


async def test_without_the_header_there_is_no_trace(api: Api, db: Any) -> None:
    await put_items(db, [product(1).to_item()])
    body = await _answer(api)
    assert body["data"]["product"]["name"] == "Product 1"
    assert "ftv1" not in (body.get("extensions") or {})
    other = await _answer(api, **{"apollo-federation-include-trace": "something-else"})
    assert "ftv1" not in (other.get("extensions") or {})


def test_untraced_requests_do_not_wrap_a_single_resolver() -> None:
    # strawberry puts an extension around every field when it implements
    # `resolve`; ours does only for a request that asks for the trace.
    extensions = [e() if isinstance(e, type) else e for e in build_schema().extensions]
    [tracing] = [e for e in extensions if isinstance(e, FederatedTracing)]

    class Request:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    class Context:
        def __init__(self, headers: dict[str, str]) -> None:
            self.request = Request(headers)

    class Execution:
        def __init__(self, headers: dict[str, str]) -> None:
            self.context = Context(headers)

    tracing.execution_context = Execution({})  # type: ignore[assignment]
    assert not tracing._implements_resolve()
    tracing.execution_context = Execution({"Apollo-Federation-Include-Trace": "ftv1"})  # type: ignore[assignment]
    assert tracing._implements_resolve()


async def test_apollo_gateway_asks_for_and_decodes_shopgraph_traces(
    api: Api, db: Any, node_tools: Path
) -> None:
    await put_items(db, [product(1).to_item()])
    REVIEWS.clear()
    REVIEWS["prod-1"] = [("Lovely", "user-nobody")]
    query = '{ product(id: "prod-1") { name reviews { body } } order(id: "nope") { number } }'
    async with reviews_server() as reviews:
        subgraphs = {"shopgraph": str(api.http.make_url("/graphql")), "reviews": reviews}
        # The gateway captures traces as usage reporting would when it samples.
        async with (
            node_gateway(node_tools / "gateway.mjs", subgraphs, GATEWAY_SUBGRAPH_TRACES="1") as url,
            aiohttp.ClientSession() as session,
            session.post(url, json={"query": query}) as response,
        ):
            body = await response.json()

    assert body["data"]["product"] == {"name": "Product 1", "reviews": [{"body": "Lovely"}]}
    traces = {t["subgraph"]: t for t in body["extensions"]["subgraphTraces"]}
    # shopgraph's trace came back and the gateway decoded it, with the error
    # where it happened; the reviews subgraph has no tracing and sent none.
    shop = traces["shopgraph"]
    assert shop["decoded"] and shop["durationNs"] > 0
    # Fields that run a resolver; plain ones (name, and the id key the gateway
    # asked for to reach reviews) run none and are not timed.
    assert {f["path"]: f["errors"] for f in shop["fields"]} == {
        "product": [],
        "order": ["Sign in to see this"],
    }
    assert not traces["reviews"]["decoded"]
