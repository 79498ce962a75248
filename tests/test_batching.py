"""No N+1: the calls a query makes, read from extensions.cost."""

from __future__ import annotations

from tests.conftest import Api, put_items
from tests.factories import order, order_with_lines, product
from tests.ids import global_id, stored

PROFILE_PAGE = """
{ viewer { orders(first: 20) { nodes { items { product { name } } } } } }
"""


async def test_profile_page_reads_all_products_in_one_batch(api: Api, db) -> None:
    """Orders written before orders carried their lines (the lines only as
    OrderLine items) still answer, with one concurrent Query per order."""
    token = await api.sign_up("batch@example.com")
    me = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    products = [product(n) for n in range(5)]
    items = [p.to_item() for p in products]
    for n in range(20):
        three = [products[(n + k) % 5] for k in range(3)]
        items += order_with_lines(order(me, n), three)
    await put_items(db, items)

    body = await api.gql(PROFILE_PAGE, token=token)

    assert not body.get("errors")
    nodes = body["data"]["viewer"]["orders"]["nodes"]
    assert len(nodes) == 20
    assert all(len(n["items"]) == 3 for n in nodes)
    names = {i["product"]["name"] for n in nodes for i in n["items"]}
    assert names == {p.name for p in products}
    calls = body["extensions"]["cost"]["calls"]
    # Session and user at once; the orders page; one Query per order's lines; one batch of products.
    assert calls.get("BatchGetItem") == 2  # the session with its user, then all 5 products
    assert "GetItem" not in calls
    assert calls["Query"] == 1 + 20
    assert body["extensions"]["cost"]["totalCalls"] == 2 + 1 + 20


async def test_products_by_ids_batches_by_hundred_in_the_order_asked(api: Api, db) -> None:
    products = [product(n) for n in range(140)]
    await put_items(db, [p.to_item() for p in products])
    ids = [p.id for p in reversed(products)] + [f"missing-{n}" for n in range(10)]

    body = await api.gql("query($ids: [ID!]!) { products(ids: $ids) { id } }", {"ids": ids})

    assert not body.get("errors")
    answered = body["data"]["products"]
    assert [stored(p["id"]) if p else None for p in answered] == [
        p.id for p in reversed(products)
    ] + [None] * 10
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 2}


async def test_repeated_ids_are_asked_once(api: Api, db) -> None:
    await put_items(db, [product(1).to_item()])
    body = await api.gql(
        '{ a: product(id: "prod-1") { id } b: products(ids: ["prod-1", "prod-1"]) { id } }'
    )
    prod_1 = {"id": global_id("Product", "prod-1")}
    assert body["data"]["a"] == prod_1
    assert body["data"]["b"] == [prod_1, prod_1]
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}


async def test_reads_cut_short_by_a_failing_field_are_still_counted(api: Api, db) -> None:
    # ordersByStatus is non-null and refuses an anonymous caller at once, which
    # nulls the whole response while product's BatchGetItem is still in flight.
    # The response waits for that read, so what it says it cost is what it did.
    await put_items(db, [product(1).to_item()])

    body = await api.gql(
        '{ product(id: "prod-1") { name } ordersByStatus(status: PAID) { nodes { id } } }'
    )

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}
