"""HTTP caching of public reads: Cache-Control, ETag, Vary, and 304s that run nothing.

That a 304 makes no DynamoDB call is seen from outside the server: it talks to
the engine through a fault proxy (tests/faultproxy.py, no rules: a counting
pass-through), whose count of forwarded requests must not move; /metrics'
DynamoDB and GraphQL counters must not move either.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from graphql import build_schema as build_sdl_schema
from graphql import parse

from shopgraph.data.dynamo import Dynamo
from shopgraph.schema.build import EXPORTED_SDL, build_schema
from shopgraph.schema.cache_hints import public_max_age
from shopgraph.server.http_cache import matches
from shopgraph.settings import Settings
from tests.conftest import Api, error_codes, put_items
from tests.factories import product
from tests.faultproxy import FaultProxy

PRODUCT_PAGE = '{ product(id: "prod-1") { id name price viewCount __typename } }'
CATEGORY_PAGE = """
query Category($category: String!) {
  productsByCategory(category: $category, first: 2) {
    edges { cursor node { ...Card } }
    pageInfo { hasNextPage endCursor }
  }
}
fragment Card on Product { id name price stock }
"""
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def get(
    api: Api,
    query: str | None,
    *,
    variables: dict[str, Any] | None = None,
    extensions: dict[str, Any] | None = None,
    **headers: str,
) -> aiohttp.ClientResponse:
    params: dict[str, str] = {}
    if query is not None:
        params["query"] = query
    if variables is not None:
        params["variables"] = json.dumps(variables)
    if extensions is not None:
        params["extensions"] = json.dumps(extensions)
    headers.setdefault("Accept", "application/json")
    return await api.http.get("/graphql", params=params, headers=headers)


def etag_for(body: bytes, media_type: str = "application/json") -> str:
    return '"' + hashlib.sha256(media_type.encode() + b"\n" + body).hexdigest()[:32] + '"'


def assert_public(response: aiohttp.ClientResponse, max_age: int) -> None:
    assert response.headers["Cache-Control"] == f"public, max-age={max_age}"
    assert "Authorization" in response.headers["Vary"]
    assert "Accept" in response.headers["Vary"]


def assert_no_store(response: aiohttp.ClientResponse) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers
    assert "Authorization" in response.headers["Vary"]


async def dynamodb_calls_in_metrics(api: Api) -> tuple[float, float]:
    """(DynamoDB calls, GraphQL operations) the server has counted."""
    text = await (await api.http.get("/metrics")).text()

    def total(name: str) -> float:
        return sum(float(v) for v in re.findall(rf"^{name}\{{.*\}} (\S+)$", text, re.M))

    return total("shopgraph_dynamodb_calls_total"), total("shopgraph_graphql_requests_total")


@pytest.fixture
async def products(db: Dynamo) -> None:
    await put_items(db, [product(n, stock=10).to_item() for n in range(1, 4)])


@pytest.fixture
async def proxy(dynamo_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(dynamo_endpoint) as proxy:
        yield proxy


async def test_a_public_product_page_over_get_is_publicly_cacheable(
    api: Api, products: None
) -> None:
    response = await get(api, PRODUCT_PAGE)
    assert response.status == 200
    raw = await response.read()
    body = json.loads(raw)
    assert body["data"]["product"]["name"] == "Product 1"
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
    # The hints say 10 s (viewCount); the setting caps it at its default, 5 s.
    assert_public(response, 5)
    assert response.headers["ETag"] == etag_for(raw)


async def test_the_max_age_is_the_least_of_the_hints_under_the_setting(
    start_api: Any, products: None
) -> None:
    api = await start_api(http_cache_max_age=300)
    catalogue = await get(api, '{ product(id: "prod-1") { id name } }')
    assert_public(catalogue, 60)
    with_views = await get(api, PRODUCT_PAGE)
    assert_public(with_views, 10)
    listing = await get(api, CATEGORY_PAGE, variables={"category": "books"})
    assert not (await listing.json()).get("errors")
    assert_public(listing, 10)  # stock, through a fragment


async def test_if_none_match_gets_a_304_without_a_single_dynamodb_call(
    start_api: Any, proxy: FaultProxy, products: None
) -> None:
    api = await start_api(endpoint_url=proxy.url)
    first = await get(api, PRODUCT_PAGE)
    etag = first.headers["ETag"]
    calls_before = sum(proxy.forwarded.values())
    metrics_before = await dynamodb_calls_in_metrics(api)
    assert calls_before > 0 and metrics_before[0] > 0

    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await get(api, PRODUCT_PAGE, **{"If-None-Match": if_none_match})
        assert again.status == 304, if_none_match
        assert await again.read() == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Vary"] == first.headers["Vary"]
        assert again.headers["Cache-Control"] in ("public, max-age=5", "public, max-age=4")

    assert sum(proxy.forwarded.values()) == calls_before
    assert await dynamodb_calls_in_metrics(api) == metrics_before

    # A tag the server never gave: the query runs.
    other = await get(api, PRODUCT_PAGE, **{"If-None-Match": '"something-else"'})
    assert other.status == 200
    assert (await other.json())["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
    assert other.headers["ETag"] == etag


async def test_after_max_age_the_query_runs_again(start_api: Any, products: None) -> None:
    api = await start_api(http_cache_max_age=1)
    first = await get(api, PRODUCT_PAGE)
    assert_public(first, 1)
    etag = first.headers["ETag"]
    await asyncio.sleep(1.2)

    again = await get(api, PRODUCT_PAGE, **{"If-None-Match": etag})
    assert again.status == 200
    body = await again.json()
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
    assert again.headers["ETag"] == etag  # nothing changed: the same bytes
    # And that answer is what the next conditional request is checked against.
    assert (await get(api, PRODUCT_PAGE, **{"If-None-Match": etag})).status == 304


async def test_a_changed_product_shows_after_expiry_with_another_etag(
    start_api: Any, products: None
) -> None:
    api = await start_api(http_cache_max_age=1, admin_emails=frozenset({"admin@example.com"}))
    admin = await api.sign_up("admin@example.com")
    first = await get(api, PRODUCT_PAGE)
    etag = first.headers["ETag"]

    await api.data(
        'mutation { updateProduct(id: "prod-1", input: {name: "Renamed"}) { name } }',
        token=admin,
    )
    # Within max-age the old answer stands: that is what max-age allows.
    assert (await get(api, PRODUCT_PAGE, **{"If-None-Match": etag})).status == 304

    await asyncio.sleep(1.2)
    after = await get(api, PRODUCT_PAGE, **{"If-None-Match": etag})
    assert after.status == 200
    raw = await after.read()
    assert json.loads(raw)["data"]["product"]["name"] == "Renamed"
    assert after.headers["ETag"] == etag_for(raw) != etag
    assert (await get(api, PRODUCT_PAGE, **{"If-None-Match": etag})).status == 200
    fresh = await get(api, PRODUCT_PAGE, **{"If-None-Match": after.headers["ETag"]})
    assert fresh.status == 304


@pytest.mark.parametrize(
    "query",
    [
        '{ product(id: "prod-1") { name } viewer { id } }',
        '{ product(id: "prod-1") { name } user(id: "someone") { email } }',
        '{ user(id: "someone") { id name } }',  # public, but without a hint
        "{ __schema { queryType { name } } }",
        '{ product(id: "not an id!") { name } }',  # an error
        '{ product(id: "prod-1") { nope } }',  # does not validate
        "{ product(id: ",  # does not parse
    ],
)
async def test_anything_not_wholly_public_and_successful_is_no_store(
    api: Api, products: None, query: str
) -> None:
    response = await get(api, query)
    assert response.status == 200
    assert_no_store(response)


async def test_a_mutation_over_get_is_no_store(api: Api) -> None:
    response = await get(api, 'mutation { recordProductView(productId: "prod-1") }')
    assert response.status >= 400
    assert_no_store(response)


async def test_a_request_with_authorization_or_a_post_is_no_store(api: Api, products: None) -> None:
    token = await api.sign_up("reader@example.com")
    public = await get(api, PRODUCT_PAGE)
    etag = public.headers["ETag"]

    # Even holding the public tag, a request with a viewer runs and is not stored.
    signed_in = await get(
        api, PRODUCT_PAGE, Authorization=f"Bearer {token}", **{"If-None-Match": etag}
    )
    assert signed_in.status == 200
    assert (await signed_in.json())["extensions"]["cost"]["calls"]["BatchGetItem"] >= 1
    assert_no_store(signed_in)
    unknown_token = await get(api, PRODUCT_PAGE, Authorization="Bearer nobody.x")
    assert_no_store(unknown_token)

    posted = await api.post({"query": PRODUCT_PAGE}, **{"If-None-Match": etag})
    assert posted.status == 200
    assert not (await posted.json()).get("errors")
    assert_no_store(posted)


async def test_a_get_asking_for_a_federated_trace_is_no_store(api: Api, products: None) -> None:
    public = await get(api, PRODUCT_PAGE)
    etag = public.headers["ETag"]

    # Its answer holds this one request's timings: run, never shared, no 304.
    traced = await get(
        api, PRODUCT_PAGE, **{"apollo-federation-include-trace": "ftv1", "If-None-Match": etag}
    )
    assert traced.status == 200
    assert "ftv1" in (await traced.json())["extensions"]
    assert_no_store(traced)


async def test_an_apq_hash_over_get_is_cacheable(api: Api, products: None) -> None:
    digest = hashlib.sha256(PRODUCT_PAGE.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    unknown = await get(api, None, extensions=persisted)
    assert error_codes(await unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert_no_store(unknown)

    registered = await get(api, PRODUCT_PAGE, extensions=persisted)
    assert_public(registered, 5)
    by_hash = await get(api, None, extensions=persisted)
    assert_public(by_hash, 5)
    assert by_hash.headers["ETag"] == registered.headers["ETag"]
    # Keyed by the query the hash names: either form revalidates the other.
    etag = by_hash.headers["ETag"]
    assert (await get(api, None, extensions=persisted, **{"If-None-Match": etag})).status == 304
    assert (await get(api, PRODUCT_PAGE, **{"If-None-Match": etag})).status == 304


async def test_variables_and_the_media_type_are_part_of_the_key(api: Api, products: None) -> None:
    query = "query P($id: ID!) { product(id: $id) { id name } }"
    one = await get(api, query, variables={"id": "prod-1"})
    two = await get(api, query, variables={"id": "prod-2"})
    assert one.headers["ETag"] != two.headers["ETag"]
    assert (
        await get(api, query, variables={"id": "prod-2"}, **{"If-None-Match": one.headers["ETag"]})
    ).status == 200

    as_graphql = await get(api, query, variables={"id": "prod-1"}, Accept=GRAPHQL_RESPONSE)
    assert as_graphql.headers["Content-Type"].startswith(GRAPHQL_RESPONSE)
    raw = await as_graphql.read()
    assert raw == await one.read()  # the same bytes, another representation
    assert as_graphql.headers["ETag"] == etag_for(raw, GRAPHQL_RESPONSE) != one.headers["ETag"]
    revalidated = await get(
        api,
        query,
        variables={"id": "prod-1"},
        Accept=GRAPHQL_RESPONSE,
        **{"If-None-Match": one.headers["ETag"]},
    )
    assert revalidated.status == 200


async def test_the_cache_is_bounded(start_api: Any, products: None) -> None:
    api = await start_api(http_cache_entries=2)
    queries = [f'{{ product(id: "prod-{n}") {{ id name }} }}' for n in range(1, 4)]
    etags = [(await get(api, q)).headers["ETag"] for q in queries]
    # The oldest was forgotten: it runs again (and is remembered anew).
    forgotten = await get(api, queries[0], **{"If-None-Match": etags[0]})
    assert forgotten.status == 200
    assert (await forgotten.json())["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
    # That pushed out the second; the third is still there.
    assert (await get(api, queries[2], **{"If-None-Match": etags[2]})).status == 304
    assert (await get(api, queries[1], **{"If-None-Match": etags[1]})).status == 200


async def test_a_max_age_of_zero_turns_caching_off(start_api: Any, products: None) -> None:
    api = await start_api(http_cache_max_age=0)
    response = await get(api, PRODUCT_PAGE)
    assert response.status == 200
    assert_no_store(response)


async def test_with_cors_the_answer_varies_by_origin(start_api: Any, products: None) -> None:
    api = await start_api(cors_origins=("http://127.0.0.1:5173",))
    response = await get(api, PRODUCT_PAGE, Origin="http://127.0.0.1:5173")
    assert "Origin" in response.headers["Vary"]


def test_the_hints_travel_in_the_exported_sdl() -> None:
    """A schema built from the exported SDL alone gives the same answers."""
    live = build_schema()._schema
    exported = build_sdl_schema(EXPORTED_SDL.read_text(), assume_valid_sdl=True)
    assert "directive @cacheControl(maxAge: Int, scope: CacheControlScope" in (
        EXPORTED_SDL.read_text()
    )
    for query, age in (
        ('{ product(id: "p") { id name } }', 60),
        (PRODUCT_PAGE, 10),
        (CATEGORY_PAGE, 10),
        ('{ products(ids: ["p"]) { ... on Product { name } } }', 60),
        ("{ ordersByStatus(status: PAID) { nodes { id } pageInfo { hasNextPage } } }", 0),
        ('{ product(id: "p") { name } viewer { id } }', 0),
        ('mutation { recordProductView(productId: "p") }', 0),
        ("{ _entities(representations: []) { __typename } }", 0),
    ):
        document = parse(query)
        assert public_max_age(live, document) == age, query
        assert public_max_age(exported, document) == age, query


def test_if_none_match_compares_weakly() -> None:
    assert matches('"a"', '"a"')
    assert matches('W/"a"', '"a"')
    assert matches('"b", W/"a"', '"a"')
    assert matches("*", '"a"')
    assert not matches('"b"', '"a"')
    assert not matches("", '"a"')


def test_the_settings_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"SHOPGRAPH_HTTP_CACHE_MAX_AGE": "0", "SHOPGRAPH_HTTP_CACHE_ENTRIES": "50"}
    )
    assert (settings.http_cache_max_age, settings.http_cache_entries) == (0, 50)
    assert (Settings.from_env({}).http_cache_max_age, Settings().http_cache_entries) == (5, 1000)
    with pytest.raises(SystemExit, match="SHOPGRAPH_HTTP_CACHE_MAX_AGE"):
        Settings.from_env({"SHOPGRAPH_HTTP_CACHE_MAX_AGE": "-1"})
