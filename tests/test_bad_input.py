"""Bad input gets a clear, coded answer; an unexpected failure is masked.

Every refusal is an HTTP 200 GraphQL response whose errors carry an
`extensions.code` a client can branch on, and nothing of the engine (stack
traces, DynamoDB operation or exception names) reaches the client.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from shopgraph.data import entities
from shopgraph.data.codec import to_attributes
from shopgraph.data.entities import OrderFlag, OrderStatus
from shopgraph.data.table import GSI1
from tests.conftest import Api, put_items
from tests.factories import instant, order, product
from tests.ids import global_id, stored

SHARDS = 4  # the suite's status_shards setting

# What must never reach a client, compared case-insensitively with the whole body.
INTERNAL_WORDS = (
    "traceback",
    'file "',
    ", line ",
    "dynamodb",
    "boto",
    "clienterror",
    "validationexception",
    "exclusivestartkey",
    "lastevaluatedkey",
    "keyconditionexpression",
    "expressionattribute",
    "attributevalue",
    "conditionalcheck",
    "keyerror",
    "valueerror",
    "typeerror",
    "shopgraph/",
    ".py",
)

USER_ORDERS = """
query($first: Int! = 2, $after: String, $orderBy: OrderOrder! = NEWEST_FIRST,
      $placedOn: String, $since: DateTime, $until: DateTime) {
  viewer {
    orders(first: $first, after: $after, orderBy: $orderBy, placedOn: $placedOn,
           since: $since, until: $until) {
      nodes { number } pageInfo { hasNextPage endCursor }
    }
  }
}
"""
USER_ORDERS_BY_ID = """
query($id: ID!, $first: Int! = 2, $after: String, $orderBy: OrderOrder! = NEWEST_FIRST) {
  user(id: $id) {
    orders(first: $first, after: $after, orderBy: $orderBy) {
      nodes { number } pageInfo { hasNextPage endCursor }
    }
  }
}
"""
PRODUCTS_BY_CATEGORY = """
query($category: String!, $first: Int! = 2, $after: String) {
  productsByCategory(category: $category, first: $first, after: $after) {
    nodes { id } pageInfo { hasNextPage endCursor }
  }
}
"""
ORDERS_BY_STATUS = """
query($status: OrderStatus!, $first: Int! = 2, $after: String) {
  ordersByStatus(status: $status, first: $first, after: $after) {
    nodes { number } pageInfo { hasNextPage endCursor }
  }
}
"""
FLAGGED_ORDERS = """
query($first: Int! = 2, $after: String) {
  flaggedOrders(first: $first, after: $after) {
    nodes { number } pageInfo { hasNextPage endCursor }
  }
}
"""


def assert_nothing_internal(text: str) -> None:
    lowered = text.lower()
    leaked = [w for w in INTERNAL_WORDS if w in lowered]
    assert not leaked, f"{leaked} in {text}"


async def refused(
    api: Api,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    *,
    code: str,
) -> dict[str, Any]:
    """Posts a request that must be refused with `code`, as a client would see it."""
    response = await api.post({"query": query, "variables": variables or {}}, token)
    text = await response.text()
    assert response.status == 200, text
    assert response.content_type == "application/json"
    body = json.loads(text)
    assert body.get("errors"), body
    assert body["errors"][0]["extensions"]["code"] == code, body["errors"]
    assert all(e.get("extensions", {}).get("code") for e in body["errors"]), body["errors"]
    assert_nothing_internal(text)
    return body


async def signed_up(api: Api, email: str) -> tuple[str, str]:
    token = await api.sign_up(email)
    user_id = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    return token, user_id


def connection(data: dict[str, Any]) -> dict[str, Any]:
    """The one listing a response holds (a user's orders sit under viewer or user)."""
    [(root, value)] = data.items()
    return value["orders"] if root in ("viewer", "user") else value


class Shop:
    """A small shop: an admin, two customers with orders, products in two
    categories, orders in several statuses, some flagged."""

    admin: str
    alice: str
    alice_id: str
    bob: str
    bob_id: str


@pytest.fixture
async def shop(api: Api, db: Any) -> Shop:
    s = Shop()
    s.admin, _ = await signed_up(api, "admin@example.com")
    s.alice, s.alice_id = await signed_up(api, "alice@example.com")
    s.bob, s.bob_id = await signed_up(api, "bob@example.com")
    statuses = [OrderStatus.PAID, OrderStatus.PENDING] * 3
    items = [
        order(s.alice_id, i, total=f"{5 * i + 1}.00", status=statuses[i]).to_item(SHARDS)
        for i in range(6)
    ]
    items += [order(s.bob_id, 10 + i, status=statuses[i]).to_item(SHARDS) for i in range(6)]
    for i in range(4):
        flagged = order(s.alice_id, 20 + i).flagged(OrderFlag("review", instant(days=i)))
        items.append(flagged.to_item(SHARDS))
    items += [product(i, category="books").to_item() for i in range(5)]
    items += [product(100 + i, category="music").to_item() for i in range(5)]
    await put_items(db, items)
    return s


async def cursor(api: Api, query: str, variables: dict[str, Any], token: str | None) -> str:
    conn = connection(await api.data(query, variables, token))
    assert conn["pageInfo"]["hasNextPage"] is True
    return conn["pageInfo"]["endCursor"]


def flip(text: str, at: int) -> str:
    """The cursor with one character changed so that its decoded bytes change too
    (the top bit of its 6 bits, which no base64 padding can hide)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    changed = alphabet[(alphabet.index(text[at]) + 32) % 64]
    return text[:at] + changed + text[at + 1 :]


# --- cursors --------------------------------------------------------------------------


async def test_every_single_character_edit_of_a_cursor_is_invalid_cursor(
    api: Api, shop: Shop
) -> None:
    good = await cursor(api, PRODUCTS_BY_CATEGORY, {"category": "books"}, None)
    # The cursor as issued continues the listing.
    rest = await api.data(PRODUCTS_BY_CATEGORY, {"category": "books", "after": good})
    assert [stored(n["id"]) for n in rest["productsByCategory"]["nodes"]] == ["prod-2", "prod-3"]

    for at in range(len(good)):
        await refused(
            api,
            PRODUCTS_BY_CATEGORY,
            {"category": "books", "after": flip(good, at)},
            code="INVALID_CURSOR",
        )
    for tampered in (good[:-1], good + "A", good[1:], good[::-1]):
        await refused(
            api,
            PRODUCTS_BY_CATEGORY,
            {"category": "books", "after": tampered},
            code="INVALID_CURSOR",
        )


@pytest.mark.parametrize("listing", ["user orders", "orders by status", "flagged orders"])
async def test_a_tampered_order_cursor_is_invalid_cursor(
    api: Api, shop: Shop, listing: str
) -> None:
    query, variables, token = {
        "user orders": (USER_ORDERS, {}, shop.alice),
        "orders by status": (ORDERS_BY_STATUS, {"status": "PAID"}, shop.admin),
        "flagged orders": (FLAGGED_ORDERS, {}, shop.admin),
    }[listing]
    good = await cursor(api, query, variables, token)
    # The cursor as issued continues the listing.
    rest = connection(await api.data(query, {**variables, "after": good}, token))
    assert len(rest["nodes"]) == 2

    step = max(1, len(good) // 12)
    for at in [*range(0, len(good), step), len(good) - 1]:
        await refused(
            api, query, {**variables, "after": flip(good, at)}, token, code="INVALID_CURSOR"
        )


async def test_a_cursor_of_one_category_is_refused_in_another(api: Api, shop: Shop) -> None:
    books = await cursor(api, PRODUCTS_BY_CATEGORY, {"category": "books"}, None)

    await refused(
        api, PRODUCTS_BY_CATEGORY, {"category": "music", "after": books}, code="INVALID_CURSOR"
    )
    await refused(
        api, PRODUCTS_BY_CATEGORY, {"category": "garden", "after": books}, code="INVALID_CURSOR"
    )
    # In its own category it still works.
    rest = await api.data(PRODUCTS_BY_CATEGORY, {"category": "books", "after": books})
    assert [stored(n["id"]) for n in rest["productsByCategory"]["nodes"]] == ["prod-2", "prod-3"]


@pytest.mark.parametrize(
    "other",
    [
        {"orderBy": "OLDEST_FIRST"},
        {"orderBy": "LARGEST_TOTAL_FIRST"},
        {"orderBy": "SMALLEST_TOTAL_FIRST"},
        {"placedOn": "2026"},
        {"since": "2026-01-01T00:00:00.000Z"},
    ],
)
async def test_a_user_orders_cursor_is_bound_to_its_order_and_filters(
    api: Api, shop: Shop, other: dict[str, str]
) -> None:
    newest = await cursor(api, USER_ORDERS, {}, shop.alice)

    await refused(api, USER_ORDERS, {"after": newest, **other}, shop.alice, code="INVALID_CURSOR")
    # And the other way round: that listing's cursor is refused by NEWEST_FIRST.
    theirs = await cursor(api, USER_ORDERS, other, shop.alice)
    await refused(api, USER_ORDERS, {"after": theirs}, shop.alice, code="INVALID_CURSOR")


async def test_another_users_orders_cursor_is_invalid_cursor(api: Api, shop: Shop) -> None:
    alices = await cursor(api, USER_ORDERS, {}, shop.alice)

    # An admin may continue Alice's listing with it...
    continued = await api.data(
        USER_ORDERS_BY_ID, {"id": shop.alice_id, "after": alices}, shop.admin
    )
    assert len(continued["user"]["orders"]["nodes"]) == 2
    # ...but not Bob's.
    await refused(
        api,
        USER_ORDERS_BY_ID,
        {"id": shop.bob_id, "after": alices},
        shop.admin,
        code="INVALID_CURSOR",
    )
    # Nor may Bob use it on his own orders.
    await refused(api, USER_ORDERS, {"after": alices}, shop.bob, code="INVALID_CURSOR")


async def test_a_cursor_of_one_listing_is_refused_by_every_other(api: Api, shop: Shop) -> None:
    paid = await cursor(api, ORDERS_BY_STATUS, {"status": "PAID"}, shop.admin)
    flagged = await cursor(api, FLAGGED_ORDERS, {}, shop.admin)
    mine = await cursor(api, USER_ORDERS, {}, shop.alice)
    books = await cursor(api, PRODUCTS_BY_CATEGORY, {"category": "books"}, None)

    await refused(
        api,
        ORDERS_BY_STATUS,
        {"status": "PENDING", "after": paid},
        shop.admin,
        code="INVALID_CURSOR",
    )
    for foreign in (flagged, mine, books):
        await refused(
            api,
            ORDERS_BY_STATUS,
            {"status": "PAID", "after": foreign},
            shop.admin,
            code="INVALID_CURSOR",
        )
    for foreign in (paid, mine, books):
        await refused(api, FLAGGED_ORDERS, {"after": foreign}, shop.admin, code="INVALID_CURSOR")
    for foreign in (paid, flagged, books):
        await refused(api, USER_ORDERS, {"after": foreign}, shop.alice, code="INVALID_CURSOR")
    for foreign in (paid, flagged, mine):
        await refused(
            api,
            PRODUCTS_BY_CATEGORY,
            {"category": "books", "after": foreign},
            code="INVALID_CURSOR",
        )


GARBAGE_CURSORS = ["abc", "not a cursor!", "ü", "A" * 3000, "e30", "%%%%", "null"]


@pytest.mark.parametrize("garbage", GARBAGE_CURSORS)
async def test_garbage_cursors_are_invalid_cursor_in_every_listing(
    api: Api, shop: Shop, garbage: str
) -> None:
    await refused(
        api, PRODUCTS_BY_CATEGORY, {"category": "books", "after": garbage}, code="INVALID_CURSOR"
    )
    await refused(api, USER_ORDERS, {"after": garbage}, shop.alice, code="INVALID_CURSOR")
    await refused(
        api,
        ORDERS_BY_STATUS,
        {"status": "PAID", "after": garbage},
        shop.admin,
        code="INVALID_CURSOR",
    )
    await refused(api, FLAGGED_ORDERS, {"after": garbage}, shop.admin, code="INVALID_CURSOR")


async def test_garbage_cursor_written_in_the_query_text(api: Api, shop: Shop) -> None:
    body = await refused(
        api,
        '{ productsByCategory(category: "books", after: "abc") { nodes { id } } }',
        code="INVALID_CURSOR",
    )
    assert body["errors"][0]["path"] == ["productsByCategory"]


# --- page sizes -----------------------------------------------------------------------


@pytest.mark.parametrize("first", [0, 101, -1, 1000])
async def test_first_outside_1_to_100_is_bad_user_input(api: Api, shop: Shop, first: int) -> None:
    await refused(
        api, PRODUCTS_BY_CATEGORY, {"category": "books", "first": first}, code="BAD_USER_INPUT"
    )
    await refused(api, USER_ORDERS, {"first": first}, shop.alice, code="BAD_USER_INPUT")
    await refused(
        api,
        ORDERS_BY_STATUS,
        {"status": "PAID", "first": first},
        shop.admin,
        code="BAD_USER_INPUT",
    )
    await refused(api, FLAGGED_ORDERS, {"first": first}, shop.admin, code="BAD_USER_INPUT")


async def test_first_at_the_limits_is_accepted(api: Api, shop: Shop) -> None:
    for first in (1, 100):
        data = await api.data(PRODUCTS_BY_CATEGORY, {"category": "books", "first": first})
        assert len(data["productsByCategory"]["nodes"]) == min(first, 5)
    await refused(
        api,
        '{ productsByCategory(category: "books", first: 0) { nodes { id } } }',
        code="BAD_USER_INPUT",
    )


# --- ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ product(id: "a#b") { id } }', {}),
        ('{ user(id: "USER#x") { id } }', {}),
        ("query($id: ID!) { product(id: $id) { id } }", {"id": "PRODUCT#prod-1"}),
        ("query($id: ID!) { user(id: $id) { name } }", {"id": "x" * 65}),
        ("query($ids: [ID!]!) { products(ids: $ids) { id } }", {"ids": ["prod-1", "a#b"]}),
    ],
)
async def test_ids_outside_the_id_alphabet_are_bad_user_input(
    api: Api, shop: Shop, query: str, variables: dict[str, Any]
) -> None:
    await refused(api, query, variables, code="BAD_USER_INPUT")


async def test_a_well_formed_unknown_id_is_null_not_an_error(api: Api, shop: Shop) -> None:
    data = await api.data('{ product(id: "no-such") { id } user(id: "nobody") { id } }')
    assert data == {"product": None, "user": None}


async def test_more_than_500_product_ids_is_bad_user_input(api: Api, shop: Shop) -> None:
    query = "query($ids: [ID!]!) { products(ids: $ids) { id } }"
    ids = [f"prod-{n}" for n in range(501)]

    await refused(api, query, {"ids": ids}, code="BAD_USER_INPUT")
    data = await api.data(query, {"ids": ids[:500]})
    assert len(data["products"]) == 500
    shop_ids = [f"prod-{n}" for n in (*range(5), *range(100, 105))]
    assert [stored(p["id"]) for p in data["products"] if p] == shop_ids


# --- dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "placed_on", ["2026-02-30", "2026-13", "26", "2026-3", "2026-00", "2026-03-15T10", "March"]
)
async def test_malformed_placed_on_is_bad_user_input(api: Api, shop: Shop, placed_on: str) -> None:
    await refused(api, USER_ORDERS, {"placedOn": placed_on}, shop.alice, code="BAD_USER_INPUT")


@pytest.mark.parametrize(
    "variables",
    [
        {"since": "yesterday"},
        {"until": "yesterday"},
        {"since": "2026-02-30T00:00:00.000Z"},
        {"until": "2026-03-15T25:00:00.000Z"},
        {"since": "2026-03-15T10:00:00"},  # no zone
        {"since": "2026-03-16T00:00:00.000Z", "until": "2026-03-15T00:00:00.000Z"},
    ],
)
async def test_malformed_or_crossed_since_until_is_bad_user_input(
    api: Api, shop: Shop, variables: dict[str, str]
) -> None:
    await refused(api, USER_ORDERS, variables, shop.alice, code="BAD_USER_INPUT")


async def test_a_malformed_instant_in_the_query_text_is_bad_user_input(
    api: Api, shop: Shop
) -> None:
    await refused(
        api,
        '{ viewer { orders(since: "yesterday") { nodes { number } } } }',
        token=shop.alice,
        code="BAD_USER_INPUT",
    )
    await refused(
        api,
        '{ viewer { orders(placedOn: "2026-02-30") { nodes { number } } } }',
        token=shop.alice,
        code="BAD_USER_INPUT",
    )


@pytest.mark.parametrize("order_by", ["LARGEST_TOTAL_FIRST", "SMALLEST_TOTAL_FIRST"])
@pytest.mark.parametrize(
    "date_filter",
    [
        {"placedOn": "2026-03"},
        {"since": "2026-01-01T00:00:00.000Z"},
        {"until": "2026-12-31T00:00:00.000Z"},
    ],
)
async def test_date_filters_with_a_total_order_are_bad_user_input(
    api: Api, shop: Shop, order_by: str, date_filter: dict[str, str]
) -> None:
    await refused(
        api, USER_ORDERS, {"orderBy": order_by, **date_filter}, shop.alice, code="BAD_USER_INPUT"
    )


async def test_sales_stats_of_a_day_that_does_not_exist_is_bad_user_input(
    api: Api, shop: Shop
) -> None:
    query = "query($day: String!) { salesStats(day: $day) { day completedOrders revenue } }"
    for day in ("2026-02-30", "2026-02", "2026-3-1", "tomorrow"):
        await refused(api, query, {"day": day}, shop.admin, code="BAD_USER_INPUT")
    data = await api.data(query, {"day": "2026-02-28"}, shop.admin)
    assert data["salesStats"]["day"] == "2026-02-28"
    assert data["salesStats"]["completedOrders"] == 0
    assert Decimal(data["salesStats"]["revenue"]) == 0


# --- requests that are not GraphQL ----------------------------------------------------


@pytest.mark.parametrize(
    "raw", ['{"query": "{ viewer { id } ', "not json at all", "{'query': 1}", "\xff\xfe"]
)
async def test_a_body_that_is_not_json_gets_a_coded_json_error(
    api: Api, shop: Shop, raw: str
) -> None:
    response = await api.http.post(
        "/graphql",
        data=raw.encode("latin-1"),
        headers={"Content-Type": "application/json"},
    )
    text = await response.text()
    assert 400 <= response.status < 500, text
    assert response.content_type == "application/json"
    body = json.loads(text)
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert body["errors"][0]["message"]
    assert_nothing_internal(text)
    assert response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "payload", [[], "just a string", 5, {"query": 5}, {"query": "{ a }", "variables": 1}, None]
)
async def test_json_that_is_not_a_graphql_request_gets_a_coded_json_error(
    api: Api, shop: Shop, payload: Any
) -> None:
    response = await api.http.post(
        "/graphql", data=json.dumps(payload), headers={"Content-Type": "application/json"}
    )
    text = await response.text()
    assert response.status == 400, text
    body = json.loads(text)
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert_nothing_internal(text)


async def test_a_syntax_error_is_graphql_parse_failed(api: Api, shop: Shop) -> None:
    body = await refused(api, "{ product(id: ) { id }", code="GRAPHQL_PARSE_FAILED")
    assert "data" not in body or body["data"] is None
    await refused(api, "query {", code="GRAPHQL_PARSE_FAILED")


async def test_an_unknown_field_is_graphql_validation_failed(api: Api, shop: Shop) -> None:
    body = await refused(
        api, '{ product(id: "prod-1") { id secretCost } }', code="GRAPHQL_VALIDATION_FAILED"
    )
    assert "secretCost" in body["errors"][0]["message"]
    await refused(api, "{ nosuchRoot }", code="GRAPHQL_VALIDATION_FAILED")


# --- an unexpected failure is masked --------------------------------------------------


async def corrupt_product(db: Any, product_id: str, category: str = "books") -> None:
    """A Product item without its `name`: data no code path writes."""
    item = {
        **entities.PRODUCT.key(id=product_id),
        **entities.PRODUCT.index_key(GSI1, category=category, id=product_id),
        "entityType": entities.PRODUCT.name,
        "id": product_id,
        "category": category,
        "price": Decimal("1.00"),
        "createdAt": instant(),
    }
    await db.call("PutItem", TableName=db.table_name, Item=to_attributes(item))


async def test_an_unexpected_failure_is_masked_with_the_request_id(
    api: Api, db: Any, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await corrupt_product(db, "broken")
    caplog.set_level(logging.ERROR, logger="shopgraph.errors")

    response = await api.post({"query": '{ product(id: "broken") { id name } }'})
    text = await response.text()

    assert response.status == 200, text
    body = json.loads(text)
    request_id = response.headers["X-Request-Id"]
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert error["message"] == "Internal server error"
    assert error["path"] == ["product"]
    assert body["data"] == {"product": None}
    assert_nothing_internal(text)
    assert "broken" not in error["message"] and "PRODUCT#" not in text
    assert "'name'" not in text
    # The server log has the request id (and the real cause) for whoever looks.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_a_corrupt_item_fails_only_its_own_field(api: Api, db: Any, shop: Shop) -> None:
    await corrupt_product(db, "broken")

    response = await api.post(
        {
            "query": """{
              product(id: "broken") { name }
              ok: product(id: "prod-1") { name }
              also: product(id: "prod-2") { id }
            }"""
        }
    )
    text = await response.text()

    assert response.status == 200, text
    body = json.loads(text)
    # Products asked in one tick share one BatchGetItem; the broken one fails alone.
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
    assert body["data"] == {
        "product": None,
        "ok": {"name": "Product 1"},
        "also": {"id": global_id("Product", "prod-2")},
    }
    [error] = body["errors"]
    assert error["path"] == ["product"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert_nothing_internal(text)


async def test_a_corrupt_item_in_a_listing_is_masked_too(api: Api, db: Any, shop: Shop) -> None:
    await corrupt_product(db, "prod-2x")

    response = await api.post(
        {"query": '{ productsByCategory(category: "books", first: 10) { nodes { id name } } }'}
    )
    text = await response.text()

    assert response.status == 200, text
    body = json.loads(text)
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": response.headers["X-Request-Id"],
    }
    assert error["message"] == "Internal server error"
    assert body["data"] is None
    assert_nothing_internal(text)
