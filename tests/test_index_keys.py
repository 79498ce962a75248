"""Every write path leaves each item's index keys as its entity's declaration says.

The table is scanned after each step of a shop's life through the API: every
item must carry exactly the index keys its declaration derives from its
attributes, no more (a stale GSI2 key would keep an unflagged order listed) and
no fewer (a product that moved category must be found under the new one).
"""

from __future__ import annotations

from typing import Any

from shopgraph.data.codec import Item
from shopgraph.data.entities import ALL_ENTITIES
from shopgraph.data.seed import SeedOptions, demo_items, write_items
from shopgraph.data.table import ATTRIBUTE_TYPES
from tests.conftest import Api, table_items

ADMIN = "admin@example.com"
SHARDS = 4  # the test settings' status shards
DECLARED = {entity.name: entity for entity in ALL_ENTITIES}
INDEX_ATTRIBUTES = tuple(a for a in ATTRIBUTE_TYPES if a not in ("PK", "SK"))


def mismatches(items: list[Item]) -> list[str]:
    found = []
    for item in items:
        entity = DECLARED.get(item.get("entityType", ""))
        if entity is None:
            found.append(f"{item['PK']}/{item['SK']}: no declared entity {item.get('entityType')}")
            continue
        want = entity.index_keys_of(item, status_shards=SHARDS)
        have = {a: item[a] for a in ("PK", "SK", *INDEX_ATTRIBUTES) if a in item}
        if have != want:
            found.append(f"{entity.name} {item['PK']}/{item['SK']}: has {have}, declared {want}")
    return found


async def check(api: Api, db: Any, step: str) -> None:
    assert not mismatches(await table_items(db)), step


async def test_every_write_path_keeps_the_declared_index_keys(api: Api, db: Any) -> None:
    admin = await api.sign_up(ADMIN)
    buyer = await api.sign_up("buyer@example.com")
    await check(api, db, "signUp")
    buyer_id = (await api.data("{ viewer { id } }", token=buyer))["viewer"]["id"]
    admin_id = (await api.data("{ viewer { id } }", token=admin))["viewer"]["id"]
    await api.log_in("buyer@example.com", "correct-horse")
    await check(api, db, "logIn")

    create = "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }"
    lamp = (
        await api.data(
            create,
            {"i": {"name": "Lamp", "category": "lighting", "price": "30.00", "stock": 5}},
            admin,
        )
    )["createProduct"]["id"]
    bulb = (
        await api.data(
            create, {"i": {"name": "Bulb", "category": "lighting", "price": "2.00"}}, admin
        )
    )["createProduct"]["id"]
    await check(api, db, "createProduct")

    update = (
        "mutation($id: ID!, $i: UpdateProductInput!) { updateProduct(id: $id, input: $i) { id } }"
    )
    await api.data(update, {"id": lamp, "i": {"category": "furniture", "stock": None}}, admin)
    await api.data(update, {"id": bulb, "i": {"name": "Warm Bulb", "price": "2.50"}}, admin)
    await check(api, db, "updateProduct: a category move and a removed stock")
    await api.data("mutation($p: ID!) { recordProductView(productId: $p) }", {"p": lamp})
    await check(api, db, "recordProductView")

    place = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }"
    orders = []
    for n in range(3):
        lines = [{"productId": lamp, "quantity": 1}, {"productId": bulb, "quantity": 2}]
        body = {"i": {"items": lines, "idempotencyKey": f"order-{n}"}}
        orders.append((await api.data(place, body, buyer))["placeOrder"]["id"])
    await check(api, db, "placeOrder")

    move = "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { id } }"
    for status in ("PAID", "SHIPPED", "COMPLETED"):
        await api.data(move, {"id": orders[0], "s": status}, admin)
        await check(api, db, f"updateOrderStatus to {status}")
    await api.data(move, {"id": orders[1], "s": "CANCELLED"}, buyer)
    await check(api, db, "a cancel, restocking")

    flag = "mutation($id: ID!, $r: String!) { flagOrder(id: $id, reason: $r) { id } }"
    unflag = "mutation($id: ID!) { unflagOrder(id: $id) { id } }"
    await api.data(flag, {"id": orders[2], "r": "review"}, admin)
    await check(api, db, "flagOrder")
    await api.data(flag, {"id": orders[2], "r": "second look"}, admin)
    await check(api, db, "flagOrder again")
    await api.data(unflag, {"id": orders[2]}, admin)
    await check(api, db, "unflagOrder")
    await api.data(flag, {"id": orders[2], "r": "look again"}, admin)
    await api.data(move, {"id": orders[2], "s": "PAID"}, admin)
    await check(api, db, "a status change of a flagged order")

    transfer = "mutation($i: TransferPointsInput!) { transferPoints(input: $i) { points } }"
    await api.data(
        transfer, {"i": {"toUserId": admin_id, "points": 5, "idempotencyKey": "t"}}, buyer
    )
    await check(api, db, "transferPoints")
    await api.data("mutation($id: ID!) { deleteOrder(id: $id) }", {"id": orders[1]}, admin)
    await check(api, db, "deleteOrder")
    await api.data("mutation { logOut }", token=buyer)
    await check(api, db, "logOut")

    items = await table_items(db)
    kinds = {i["entityType"] for i in items}
    # The walk reached every entity the API writes (the stream's own are below).
    assert {"User", "EmailGuard", "Session", "Product", "ViewCounter", "Order"} <= kinds
    assert {"OrderLine", "IdempotencyRecord"} <= kinds
    assert any(i.get("GSI2PK") for i in items), "a flagged order is in the flagged index"
    assert buyer_id


async def test_the_demo_seed_writes_the_declared_index_keys(db: Any) -> None:
    options = SeedOptions(customers=5, products=12, orders_per_customer=6, status_shards=SHARDS)
    await write_items(db, demo_items(options), progress=False)
    items = await table_items(db)
    assert {i["entityType"] for i in items} >= {"User", "Order", "OrderLine", "SalesStats"}
    assert not mismatches(items)
