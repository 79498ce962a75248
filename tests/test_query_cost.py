"""The query cost limit: every operation's cost in capacity units, reckoned
from its shape before it runs; over the limit, refused without a single call.

The figures asserted here are the README's formula applied to each query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from graphql import parse

from shopgraph.data.codec import to_attributes
from shopgraph.data.cost import item_size
from shopgraph.data.seed import ADMIN_EMAIL, SeedOptions, customer_email, demo_items, write_items
from shopgraph.schema.cost_rules import ITEM_BYTES
from tests.conftest import ENGINE, Api, error_codes, shop_items
from tests.faultproxy import FaultProxy
from tests.test_subscriptions import transport, ws_url

DEMO = SeedOptions(customers=3, products=40, orders_per_customer=12, status_shards=4)
ADMINS = frozenset({ADMIN_EMAIL})

PRODUCT_PAGE = "query($id: ID!) { product(id: $id) { name price stock viewCount } }"
CATEGORY_PAGE = (
    'query { productsByCategory(category: "books", first: 20) {'
    " nodes { id name price viewCount } pageInfo { hasNextPage endCursor } } }"
)
PROFILE_PAGE = (
    "query { viewer { name email points orders(first: 10) {"
    " nodes { number total status createdAt"
    " items { quantity unitPrice product { name price } } } } } }"
)
BY_STATUS = (
    "query { ordersByStatus(status: COMPLETED, first: 20) {"
    " nodes { number total user { name } } } }"
)
# The report that started this: 100 orders, each one's user, each user's 100
# orders with their lines and products.
HOSTILE = (
    "query { ordersByStatus(status: PAID, first: 100) { nodes { user {"
    " orders(first: 100) { nodes { items { product { name } } } } } } } }"
)
# Each of 500 products with its view counter's 4 shards: 500 x 2.5 units.
MANY_VIEWS = "query($ids: [ID!]!) { products(ids: $ids) { name viewCount } }"
# Customers may ask it; at 50 orders of up to 49 lines it is over their limit.
DEEP_PROFILE = "query { viewer { orders(first: 50) { nodes { items { product { name } } } } } }"


@pytest.fixture
async def demo(api: Api, db: Any) -> dict[str, str]:
    await write_items(db, demo_items(DEMO), progress=False)
    return {
        "customer": await api.log_in(customer_email(1), DEMO.password),
        "admin": await api.log_in(ADMIN_EMAIL, DEMO.password),
    }


@pytest.fixture
async def proxy(dynamo_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(dynamo_endpoint) as proxy:
        yield proxy


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["extensions"]["cost"]


async def test_every_response_reports_its_requested_and_actual_cost(
    api: Api, demo: dict[str, str]
) -> None:
    body = await api.gql(PRODUCT_PAGE, {"id": "p00001"})
    assert not body.get("errors")
    cost = cost_of(body)
    # The product (0.5) and its view counter's 4 shards (4 x 0.5), in one batch.
    assert cost["requestedQueryCost"] == 2.5
    assert cost["actualQueryCost"] == cost["readCapacityUnits"] + cost["writeCapacityUnits"]
    assert cost["actualQueryCost"] > 0
    # Without viewCount the counters are neither read nor counted.
    alone = await api.gql('query { product(id: "p00001") { name } }')
    assert cost_of(alone)["requestedQueryCost"] == 0.5
    # Refused before they run, they cost nothing, and say so.
    for refused in ("query { product(id: ", "query { nosuchfield }"):
        body = await api.gql(refused)
        assert body["errors"]
        assert cost_of(body)["requestedQueryCost"] == 0
        assert cost_of(body)["actualQueryCost"] == 0


async def test_the_bench_pages_cost_what_the_formula_says(api: Api, demo: dict[str, str]) -> None:
    pages = {
        # The product and 4 counter shards.
        "product": (PRODUCT_PAGE, {"id": "p00003"}, None, 2.5),
        # One Query of 21 products of 256 B (5.4 KB: 2 x 0.5), and 20 x 4 shards.
        "category": (CATEGORY_PAGE, {}, None, 1.0 + 20 * 2.0),
        # The session and viewer (1.0), one Query of 11 orders of 640 B (7 KB:
        # 2 x 0.5), and up to 49 lines' products for each of 10 orders.
        "profile": (PROFILE_PAGE, {}, "customer", 1.0 + 1.0 + 10 * 49 * 0.5),
        # The viewer, one Query of 21 orders (13 KB: 4 x 0.5) per status shard,
        # and the 20 orders' users.
        "by status": (BY_STATUS, {}, "admin", 1.0 + 4 * 2.0 + 20 * 0.5),
    }
    for name, (query, variables, who, expected) in pages.items():
        body = await api.gql(query, variables, demo[who] if who else None)
        assert not body.get("errors"), (name, body["errors"])
        cost = cost_of(body)
        assert cost["requestedQueryCost"] == expected, name
        if ENGINE == "dynamodb-local":
            # AWS's own engine bills by DynamoDB's size rules: the requested
            # cost is a bound (moto's figures follow rules of their own).
            assert 0 < cost["actualQueryCost"] <= expected, (name, cost)


async def test_over_the_limit_is_refused_before_a_single_call(
    start_api: Any, db: Any, proxy: FaultProxy
) -> None:
    await write_items(db, demo_items(DEMO), progress=False)
    api = await start_api(endpoint_url=proxy.url, admin_emails=ADMINS)
    admin = await api.log_in(ADMIN_EMAIL, DEMO.password)
    ids = [f"p{n:05d}" for n in range(1, 501)]
    for query, variables, token in ((HOSTILE, {}, admin), (MANY_VIEWS, {"ids": ids}, None)):
        calls = proxy.recording()
        body = await api.gql(query, variables, token)
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
        requested = error["extensions"]["requestedQueryCost"]
        assert error["extensions"]["maxCost"] == 1000
        assert error["extensions"]["adminMaxCost"] == 20000
        assert f"{requested:g} capacity units" in error["message"]
        # Not one request reached the engine, and the response says so.
        assert calls == []
        assert cost_of(body)["totalCalls"] == 0
        assert cost_of(body)["requestedQueryCost"] == requested
    proxy.stop_recording()
    # 100 orders x 100 orders x 49 lines x 0.5, and the queries above them.
    assert requested == 500 * 2.5
    body = await api.gql(HOSTILE, token=admin)
    assert body["errors"][0]["extensions"]["requestedQueryCost"] > 100 * 100 * 49 * 0.5


async def test_admins_get_the_larger_limit(api: Api, demo: dict[str, str]) -> None:
    # 1 + 50 x 49 x 0.5 and the orders' Query: between the two limits.
    body = await api.gql(DEEP_PROFILE, token=demo["customer"])
    assert error_codes(body) == ["MAX_COST_EXCEEDED"]
    assert 1000 < body["errors"][0]["extensions"]["requestedQueryCost"] < 20000
    # Telling a customer from an admin takes the session and the user (one batch), no more.
    assert cost_of(body)["calls"] == {"BatchGetItem": 1}
    body = await api.gql(DEEP_PROFILE, token=demo["admin"])
    assert not body.get("errors"), body["errors"]
    assert body["data"]["viewer"]["orders"]["nodes"] == []
    # Anonymous, the same query costs no viewer lookup and is refused at once.
    body = await api.gql(
        "query($ids: [ID!]!) { products(ids: $ids) { viewCount } }",
        {"ids": [f"p{n:05d}" for n in range(1, 402)]},
    )
    assert error_codes(body) == ["MAX_COST_EXCEEDED"]
    assert cost_of(body)["totalCalls"] == 0


async def test_the_limits_are_settings(start_api: Any, db: Any) -> None:
    await write_items(db, demo_items(DEMO), progress=False)
    # Signing in costs 7 units itself: the session comes from a server with the defaults.
    admin = await (await start_api(admin_emails=ADMINS)).log_in(ADMIN_EMAIL, DEMO.password)
    api = await start_api(max_query_cost=2, admin_max_query_cost=300, admin_emails=ADMINS)
    body = await api.gql(PRODUCT_PAGE, {"id": "p00001"})
    assert error_codes(body) == ["MAX_COST_EXCEEDED"]
    assert body["errors"][0]["extensions"]["maxCost"] == 2
    assert cost_of(body)["totalCalls"] == 0
    assert (await api.data('query { product(id: "p00001") { name } }'))["product"]["name"]
    assert (await api.data(PRODUCT_PAGE, {"id": "p00001"}, admin))["product"]["viewCount"] >= 0
    body = await api.gql(PROFILE_PAGE, token=admin)  # 247: within the admins' 300
    assert not body.get("errors"), body["errors"]


async def test_a_refused_mutation_writes_nothing(api: Api, db: Any, demo: dict[str, str]) -> None:
    before = await shop_items(db)
    placed = (
        "mutation($items: [OrderLineInput!]!) { placeOrder(input: {items: $items}) {"
        " user { orders(first: 100) { nodes { items { product { viewCount } } } } } } }"
    )
    body = await api.gql(
        placed, {"items": [{"productId": "p00001", "quantity": 1}]}, demo["customer"]
    )
    assert error_codes(body) == ["MAX_COST_EXCEEDED"]
    assert body["data"] is None
    assert await shop_items(db) == before
    # The same order, asking for what it needs, is placed; its cost counts its writes.
    cheap = "mutation($items: [OrderLineInput!]!) { placeOrder(input: {items: $items}) { id } }"
    body = await api.gql(
        cheap, {"items": [{"productId": "p00001", "quantity": 1}]}, demo["customer"]
    )
    assert not body.get("errors"), body["errors"]
    cost = cost_of(body)
    assert cost["writeCapacityUnits"] > 0
    if ENGINE == "dynamodb-local":
        assert 0 < cost["actualQueryCost"] <= cost["requestedQueryCost"], cost


async def test_fragments_aliases_and_directives_count_as_they_run(
    api: Api, demo: dict[str, str]
) -> None:
    async def requested(query: str, variables: dict[str, Any] | None = None) -> float:
        body = await api.gql(query, variables)
        assert not body.get("errors"), body["errors"]
        return cost_of(body)["requestedQueryCost"]

    one = await requested('{ product(id: "p00001") { viewCount } }')
    assert one == 2.5
    spread = "fragment V on Product { viewCount }"
    assert (
        await requested(
            '{ a: product(id: "p00001") { ...V } b: product(id: "p00002") { ...V } } ' + spread
        )
        == 2 * one
    )
    assert await requested('{ product(id: "p00001") { ... on Product { viewCount } } }') == one
    assert await requested('{ product(id: "p00001") { viewCount @skip(if: true) } }') == 0.5
    skipped = 'query($v: Boolean!) { product(id: "p00001") { viewCount @include(if: $v) } }'
    assert await requested(skipped, {"v": False}) == 0.5
    assert await requested(skipped, {"v": True}) == one
    # Fragments nested to multiply (each spreading the next twice) are priced
    # by their shape, not walked once per place they land: refused at once.
    levels = 14
    fragments = " ".join(
        f"fragment F{n} on ProductConnection {{ ...F{n + 1} nodes {{ viewCount }} ...F{n + 1} }}"
        for n in range(levels)
    )
    bomb = (
        f'{{ productsByCategory(category: "books", first: 100) {{ ...F0 }} }} {fragments}'
        f" fragment F{levels} on ProductConnection {{ nodes {{ id }} }}"
    )
    body = await api.gql(bomb)
    assert body["errors"], body
    assert error_codes(body) in (["MAX_COST_EXCEEDED"], ["GRAPHQL_VALIDATION_FAILED"])
    assert cost_of(body)["totalCalls"] == 0


async def test_a_subscription_over_the_limit_is_refused(start_api: Any, db: Any) -> None:
    await write_items(db, demo_items(DEMO), progress=False)
    api = await start_api(admin_emails=ADMINS, stream_consumer=True, max_query_cost=100)
    customer = await api.log_in(customer_email(1), DEMO.password)
    # The viewer, and for each event up to 49 lines' products with their view counts.
    expensive = gql(
        "subscription { orderStatusChanged { order { items { product { viewCount } } } } }"
    )
    async with Client(transport=transport(ws_url(api), customer)) as session:
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(expensive):
                pass
    (error,) = raised.value.errors  # type: ignore[misc]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["requestedQueryCost"] == 1.0 + 49 * 2.5


def test_the_typical_item_sizes_cover_the_demo_data() -> None:
    """The cost of a Query page rests on ITEM_BYTES: the demo data's items
    must fit in them, or the figures stop bounding what pages read."""
    largest: dict[str, int] = defaultdict(int)
    for item in demo_items(SeedOptions(customers=20, products=100, orders_per_customer=10)):
        kind = item.get("entityType")
        if kind in ITEM_BYTES:
            largest[kind] = max(largest[kind], item_size(to_attributes(item)))
    assert set(largest) >= {"Product", "Order", "User", "ViewCounter", "SalesStats"}
    for kind, size in largest.items():
        assert size <= ITEM_BYTES[kind], (kind, size)


def test_an_operation_sent_again_costs_what_it_cost_the_first_time() -> None:
    from shopgraph.schema import cost_rules
    from shopgraph.schema.build import build_schema
    from shopgraph.schema.query_cost import RequestedCosts, requested_cost

    schema = build_schema()._schema
    rules = cost_rules.rules(status_shards=4, view_shards=4)
    costs = RequestedCosts(rules, maxsize=2)
    query = (
        "query Page($n: Int!) {"
        ' productsByCategory(category: "books", first: $n) { nodes { viewCount } } }'
    )
    document = parse(query)

    def cost(n: int) -> float:
        requested = costs.of(schema, document, query, "Page", {"n": n})
        assert requested == requested_cost(schema, document, "Page", {"n": n}, rules)
        assert requested is not None
        return requested.units

    assert cost(5) < cost(50)  # the variables are part of what is remembered
    assert cost(5) == cost(5) and len(costs) == 2
    cost(7)  # a third operation: the least recently used goes
    assert len(costs) == 2
    assert costs.of(schema, document, query, "Page", {"n": "x"}) is None  # does not coerce
