"""The DynamoDB calls of every benchmarked query, on the demo data, from extensions.cost.

These are the pages the benches time (`bench/`) and the Node peer is compared
on: each must cost the fewest calls its access pattern allows, whatever the
page size.
"""

from __future__ import annotations

from typing import Any

import pytest

from shopgraph.data.seed import ADMIN_EMAIL, SeedOptions, customer_email, demo_items, write_items
from tests.conftest import Api, put_items
from tests.factories import order, order_with_lines, product
from tests.ids import stored

DEMO = SeedOptions(customers=3, products=40, orders_per_customer=22, status_shards=4)

PEER_PRODUCT = "query ProductPage($id: ID!) { product(id: $id) { name price viewCount } }"
PEER_CATEGORY = (
    "query CategoryPage($category: String!) {"
    " productsByCategory(category: $category, first: 20) { nodes { id name price } } }"
)
CATEGORY_WITH_VIEWS = (
    "query($category: String!) { productsByCategory(category: $category, first: 20) {"
    " nodes { id name price viewCount } pageInfo { hasNextPage endCursor } } }"
)
PEER_PROFILE = (
    "query ProfilePage { viewer { orders(first: 20) {"
    " nodes { number total items { quantity product { name } } } } } }"
)
BENCH_PRODUCT = "query($id: ID!) { product(id: $id) { name price stock viewCount } }"
BENCH_PROFILE = (
    "query ProfilePage { viewer { name email points orders(first: 10) {"
    " nodes { number total status createdAt"
    " items { quantity unitPrice product { name price } } } } } }"
)
BENCH_BY_STATUS = (
    "query { ordersByStatus(status: COMPLETED, first: 20) {"
    " nodes { number total user { name } } } }"
)


@pytest.fixture
async def demo(api: Api, db: Any) -> dict[str, str]:
    await write_items(db, demo_items(DEMO), progress=False)
    customer = await api.log_in(customer_email(1), DEMO.password)
    admin = await api.log_in(ADMIN_EMAIL, DEMO.password)
    return {"customer": customer, "admin": admin}


async def calls_of(
    api: Api, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    body = await api.gql(query, variables, token)
    assert not body.get("errors"), body["errors"]
    return body["data"], body["extensions"]["cost"]["calls"]


async def test_a_product_with_its_view_count_is_one_batch_read(
    api: Api, demo: dict[str, str]
) -> None:
    for query in (PEER_PRODUCT, BENCH_PRODUCT):
        data, calls = await calls_of(api, query, {"id": "p00001"})
        assert data["product"]["viewCount"] > 0
        # The product and every shard of its view counter, in one BatchGetItem.
        assert calls == {"BatchGetItem": 1}
    fragment = (
        "query($id: ID!) { product(id: $id) { ...P } } fragment P on Product { name viewCount }"
    )
    data, calls = await calls_of(api, fragment, {"id": "p00002"})
    assert calls == {"BatchGetItem": 1}
    data, calls = await calls_of(
        api,
        "query($ids: [ID!]!) { products(ids: $ids) { viewCount } }",
        {"ids": ["p00001", "p00003"]},
    )
    assert [p["viewCount"] for p in data["products"]] == [
        (await calls_of(api, PEER_PRODUCT, {"id": i}))[0]["product"]["viewCount"]
        for i in ("p00001", "p00003")
    ]
    assert calls == {"BatchGetItem": 1}
    # Without viewCount, the counters are not read: fewer read units.
    alone = await api.gql("query($id: ID!) { product(id: $id) { name } }", {"id": "p00001"})
    counted = await api.gql(PEER_PRODUCT, {"id": "p00001"})
    assert alone["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
    units = [b["extensions"]["cost"]["readCapacityUnits"] for b in (alone, counted)]
    assert units[0] < units[1], units
    data, calls = await calls_of(api, PEER_PRODUCT, {"id": "nosuchproduct"})
    assert data["product"] is None
    assert calls == {"BatchGetItem": 1}


async def test_a_category_page_is_one_query_and_its_view_counts_one_batch(
    api: Api, demo: dict[str, str]
) -> None:
    data, calls = await calls_of(api, PEER_CATEGORY, {"category": "books"})
    assert len(data["productsByCategory"]["nodes"]) == 5
    assert calls == {"Query": 1}

    data, calls = await calls_of(api, CATEGORY_WITH_VIEWS, {"category": "books"})
    nodes = data["productsByCategory"]["nodes"]
    assert sum(n["viewCount"] for n in nodes) > 0
    # 5 products x 4 shards in one BatchGetItem, not a Query per product.
    assert calls == {"Query": 1, "BatchGetItem": 1}


async def test_twenty_products_with_view_counts_are_still_two_calls(api: Api, db: Any) -> None:
    await put_items(db, [product(n, category="lamps").to_item() for n in range(25)])
    for n in range(25):
        await api.data("mutation($p: ID!) { recordProductView(productId: $p) }", {"p": f"prod-{n}"})
    data, calls = await calls_of(api, CATEGORY_WITH_VIEWS, {"category": "lamps"})
    nodes = data["productsByCategory"]["nodes"]
    assert len(nodes) == 20
    assert [n["viewCount"] for n in nodes] == [1] * 20
    assert calls == {"Query": 1, "BatchGetItem": 1}


async def test_the_profile_page_is_three_calls(api: Api, demo: dict[str, str]) -> None:
    for query, page in ((PEER_PROFILE, 20), (BENCH_PROFILE, 10)):
        data, calls = await calls_of(api, query, token=demo["customer"])
        nodes = data["viewer"]["orders"]["nodes"]
        assert len(nodes) == page
        assert all(n["items"] and all(i["product"]["name"] for i in n["items"]) for n in nodes)
        # The session with the viewer, the orders page with their lines, all products at once.
        assert calls == {"BatchGetItem": 2, "Query": 1}


async def test_orders_by_status_is_a_query_per_shard_and_one_batch_of_users(
    api: Api, demo: dict[str, str]
) -> None:
    data, calls = await calls_of(api, BENCH_BY_STATUS, token=demo["admin"])
    assert data["ordersByStatus"]["nodes"]
    # The session with the admin; one Query per status shard; the orders' users at once.
    assert calls == {"BatchGetItem": 2, "Query": DEMO.status_shards}


async def test_orders_placed_here_carry_their_lines(api: Api, db: Any) -> None:
    """A placed order answers its lines from its own item; one written before
    orders carried their lines still answers through the lines Query."""
    token = await api.sign_up("mixed@example.com")
    me = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    products = [product(n) for n in range(3)]
    old = [order(me, n) for n in range(2)]
    await put_items(
        db,
        [p.to_item() for p in products]
        + [i for o in old for i in order_with_lines(o, products[:2], quantity=2)],
    )
    place = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }"
    for _ in range(3):
        lines = [{"productId": p.id, "quantity": 1} for p in products]
        await api.data(place, {"i": {"items": lines}}, token)

    data, calls = await calls_of(api, PEER_PROFILE, token=token)
    nodes = data["viewer"]["orders"]["nodes"]
    assert sorted(len(n["items"]) for n in nodes) == [2, 2, 3, 3, 3]
    assert {i["quantity"] for n in nodes if len(n["items"]) == 2 for i in n["items"]} == {2}
    # One lines Query for each of the two older orders only.
    assert calls == {"BatchGetItem": 2, "Query": 1 + len(old)}


async def test_an_orders_lines_come_by_product_id_as_placed_and_as_read(api: Api, db: Any) -> None:
    token = await api.sign_up("sorted@example.com")
    await put_items(db, [product(n).to_item() for n in (3, 1, 2)])
    asked = [{"productId": f"prod-{n}", "quantity": n} for n in (3, 1, 2)]
    place = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id items { productId } } }"
    placed = (await api.data(place, {"i": {"items": asked}}, token))["placeOrder"]
    expected = ["prod-1", "prod-2", "prod-3"]
    assert [stored(i["productId"]) for i in placed["items"]] == expected
    read = await api.data(
        "query($id: ID!) { order(id: $id) { items { productId quantity } } }",
        {"id": placed["id"]},
        token,
    )
    assert [(stored(i["productId"]), i["quantity"]) for i in read["order"]["items"]] == [
        ("prod-1", 1),
        ("prod-2", 2),
        ("prod-3", 3),
    ]
