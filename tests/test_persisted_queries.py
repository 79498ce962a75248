"""Automatic persisted queries, Apollo's protocol, over POST and GET."""

from __future__ import annotations

import hashlib
import json
from typing import Any

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
