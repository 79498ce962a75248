"""Automatic persisted queries, Apollo's protocol, over POST and GET."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.conftest import Api, error_codes

QUERY = "query Viewer { viewer { id } }"


def digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def extensions(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest(query)}}


async def _post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(body)
    return await response.json()


async def _get(api: Api, query: str | None, ext: dict[str, Any]) -> dict[str, Any]:
    params = {"extensions": json.dumps(ext)}
    if query is not None:
        params["query"] = query
    response = await api.http.get("/graphql", params=params, headers={"Accept": "application/json"})
    return await response.json()


async def test_the_apq_flow_over_post(api: Api) -> None:
    unknown = await _post(api, {"extensions": extensions(QUERY)})
    assert unknown["errors"][0]["message"] == "PersistedQueryNotFound"
    assert error_codes(unknown) == ["PERSISTED_QUERY_NOT_FOUND"]

    registered = await _post(api, {"query": QUERY, "extensions": extensions(QUERY)})
    assert registered["data"] == {"viewer": None}

    by_hash = await _post(api, {"extensions": extensions(QUERY)})
    assert by_hash["data"] == {"viewer": None}
    assert not by_hash.get("errors")


async def test_the_apq_flow_over_get(api: Api) -> None:
    query = '{ product(id: "p1") { id } }'
    assert error_codes(await _get(api, None, extensions(query))) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert (await _get(api, query, extensions(query)))["data"] == {"product": None}
    assert (await _get(api, None, extensions(query)))["data"] == {"product": None}


async def test_a_hash_that_does_not_match_the_query_is_refused(api: Api) -> None:
    body = await _post(api, {"query": QUERY, "extensions": extensions("{ other }")})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "does not match" in body["errors"][0]["message"]
    # Nothing was registered under that hash.
    again = await _post(api, {"extensions": extensions("{ other }")})
    assert error_codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_malformed_persisted_query_extensions_are_bad_input(api: Api) -> None:
    for persisted in ({"version": 2, "sha256Hash": digest(QUERY)}, {"version": 1}, "x"):
        body = await _post(api, {"extensions": {"persistedQuery": persisted}})
        assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_the_cache_is_bounded(start_api: Any) -> None:
    api = await start_api(persisted_queries=2)
    queries = [f'{{ q{n}: product(id: "p{n}") {{ id }} }}' for n in range(3)]
    for query in queries:
        assert not (await _post(api, {"query": query, "extensions": extensions(query)})).get(
            "errors"
        )
    # The oldest was forgotten; the newest two are still known.
    forgotten = await _post(api, {"extensions": extensions(queries[0])})
    assert error_codes(forgotten) == ["PERSISTED_QUERY_NOT_FOUND"]
    for query in queries[1:]:
        assert not (await _post(api, {"extensions": extensions(query)})).get("errors")


# The Accept headers clients send by default, as their sources set them, and a browser's.
# @apollo/client 4.x, HttpLink (src/link/http/selectHttpOptionsAndBody.ts, defaultHeaders):
APOLLO_CLIENT = "application/graphql-response+json,application/json;q=0.9"
# @apollo/client 3.x sent "*/*" there (ANY below).
# @urql/core 4 to 6, fetchExchange (src/internal/fetchOptions.ts, makeFetchOptions), queries:
URQL = (
    "application/graphql-response+json, application/graphql+json, application/json, "
    "text/event-stream, multipart/mixed"
)
# graphql-request 7.x (src/legacy/helpers/runRequest.ts): [CONTENT_TYPE_GQL, CONTENT_TYPE_JSON]
GRAPHQL_REQUEST = "application/graphql-response+json, application/json"
ANY = "*/*"  # fetch and curl without an Accept of their own; @apollo/client 3.x
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize("accept", [APOLLO_CLIENT, URQL, GRAPHQL_REQUEST, ANY, BROWSER])
async def test_a_hash_over_get_gets_a_graphql_answer_whatever_the_client_accepts(
    api: Api, accept: str
) -> None:
    """Never the GraphiQL page: an unknown hash is PERSISTED_QUERY_NOT_FOUND
    (the client then sends the text), a known one its data."""
    query = '{ productsByCategory(category: "books", first: 1) { nodes { name } } }'
    params = {"extensions": json.dumps(extensions(query))}
    response = await api.http.get("/graphql", params=params, headers={"Accept": accept})
    assert "text/html" not in response.headers["Content-Type"]
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    await _post(api, {"query": query, "extensions": extensions(query)})
    response = await api.http.get("/graphql", params=params, headers={"Accept": accept})
    body = await response.json()
    assert body["data"] == {"productsByCategory": {"nodes": []}}


async def test_graphiql_is_for_a_browser_asking_for_a_page_without_a_query(api: Api) -> None:
    page = await api.http.get("/graphql", headers={"Accept": BROWSER})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    for accept in (ANY, APOLLO_CLIENT):
        response = await api.http.get("/graphql", headers={"Accept": accept})
        assert "text/html" not in response.headers["Content-Type"]
        body = await response.json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    with_query = await api.http.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": BROWSER}
    )
    assert (await with_query.json())["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        ("text/html", True),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0.9, */*;q=0.8", True),
        ("application/json, text/html;q=0.5", False),  # HTML only as a fallback
        ("text/html;q=0", False),  # explicitly not HTML
        ("text/html;q=0.8, */*", False),
        ("text/*", False),
        ("", False),
    ],
)
async def test_graphiql_goes_to_a_get_that_prefers_html(api: Api, accept: str, page: bool) -> None:
    response = await api.http.get("/graphql", headers={"Accept": accept})
    assert response.headers["Content-Type"].startswith("text/html") is page
    if not page:
        body = await response.json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
