"""What one document may ask for: depth, aliases, tokens, size, introspection."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, error_codes

FINE = '{ product(id: "p1") { id } }'


def _deep(levels: int) -> str:
    # viewer -> orders -> nodes -> user -> orders -> nodes -> user ...
    query, closing = "{ viewer { ", " } }"
    for _ in range(levels):
        query += "orders { nodes { user { "
        closing = " } } }" + closing
    return query + "id" + closing


async def _still_serving(api: Api) -> None:
    body = await api.gql(FINE)
    assert body["data"] == {"product": None} and not body.get("errors")


async def test_a_depth_20_query_is_refused(api: Api) -> None:
    body = await api.gql(_deep(7))  # depth 23
    assert body.get("data") is None
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "depth" in body["errors"][0]["message"]
    await _still_serving(api)


async def test_a_thousand_aliases_are_refused(api: Api) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(1000))  # within the token limit
    body = await api.gql("{ " + aliases + " }")
    assert body.get("data") is None
    assert error_codes(body)[0] == "GRAPHQL_VALIDATION_FAILED"
    # Refused before a single DynamoDB call.
    assert body["extensions"]["cost"]["totalCalls"] == 0
    await _still_serving(api)


async def test_a_one_megabyte_query_is_refused(api: Api) -> None:
    huge = "{ " + " ".join("__typename" for _ in range(100_000)) + " }"
    assert len(huge) > 1_000_000
    body = await api.gql(huge)
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]
    assert "tokens" in body["errors"][0]["message"]
    await _still_serving(api)


async def test_a_body_past_the_size_limit_is_a_graphql_shaped_413(api: Api) -> None:
    response = await api.post({"query": FINE, "variables": {"pad": "x" * (3 * 1024**2)}})
    assert response.status == 413
    assert (await response.json())["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    await _still_serving(api)


async def test_limits_come_from_settings_and_introspection_can_be_off(start_api: Any) -> None:
    api = await start_api(max_depth=3, max_aliases=2, introspection=False)
    deep = await api.gql("{ viewer { orders { nodes { user { id } } } } }")
    assert error_codes(deep) == ["GRAPHQL_VALIDATION_FAILED"]
    aliased = await api.gql(
        '{ a: product(id: "1") { id } b: product(id: "2") { id } c: product(id: "3") { id } }'
    )
    assert error_codes(aliased) == ["GRAPHQL_VALIDATION_FAILED"]
    introspection = await api.gql('{ __type(name: "Query") { name } }')
    assert error_codes(introspection) == ["GRAPHQL_VALIDATION_FAILED"]
    await _still_serving(api)


async def test_introspection_answers_by_default(api: Api) -> None:
    body = await api.gql("{ __schema { queryType { name } } }")
    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}


async def test_a_document_seen_before_is_not_validated_again(api: Api) -> None:
    """The limits must not defeat the validation cache: validation is most of a
    small request's CPU."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(256)
    query = '{ product(id: "p-validated-once") { id name } }'
    await api.gql(query)
    before = cache.cache_info()
    for _ in range(3):
        assert (await api.gql(query))["data"] == {"product": None}
    after = cache.cache_info()
    assert after.hits - before.hits == 3
    assert after.misses == before.misses
