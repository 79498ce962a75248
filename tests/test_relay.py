"""Relay's Global Object Identification: Node, node(id:), nodes(ids:), and old ids."""

from __future__ import annotations

import base64

from tests.conftest import Api, error_codes, put_items
from tests.factories import order, product

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Product { name }
    ... on User { name }
    ... on Order { number }
  }
}
"""
NODES = """
query($ids: [ID!]!) {
  nodes(ids: $ids) { __typename id ... on Product { name } ... on User { name } }
}
"""
ADMINS = frozenset({"admin@example.com"})


def global_id(type_name: str, stored: str) -> str:
    return base64.b64encode(f"{type_name}:{stored}".encode()).decode()


def stored(global_id_: str) -> str:
    return base64.b64decode(global_id_).decode().split(":", 1)[1]


async def test_ids_say_their_type_and_node_finds_each(api: Api, db) -> None:
    token = await api.sign_up("relay@example.com")
    me = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    assert base64.b64decode(me).decode().startswith("User:")
    await put_items(db, [product(1).to_item(), order(stored(me), 1).to_item(4)])
    ids = await api.data(
        '{ product(id: "prod-1") { id } viewer { orders { nodes { id number } } } }', token=token
    )
    product_id = ids["product"]["id"]
    placed = ids["viewer"]["orders"]["nodes"][0]
    assert product_id == global_id("Product", "prod-1")
    assert base64.b64decode(placed["id"]).decode().startswith("Order:")

    for node_id, typename, field in (
        (product_id, "Product", ("name", "Product 1")),
        (me, "User", ("name", "Tester")),
        (placed["id"], "Order", ("number", placed["number"])),
    ):
        found = (await api.data(NODE, {"id": node_id}, token=token))["node"]
        assert (found["__typename"], found["id"], found[field[0]]) == (typename, node_id, field[1])


async def test_old_ids_keep_working_everywhere_an_id_is_taken(api: Api, db) -> None:
    """The stored ids, as clients and other subgraphs kept them, still work;
    an id of another type is refused, not looked up as something else."""
    await put_items(db, [product(1).to_item()])
    body = await api.data(
        'query($new: ID!) { old: product(id: "prod-1") { id name } new: product(id: $new)'
        ' { id name } both: products(ids: ["prod-1", $new]) { name } }',
        {"new": global_id("Product", "prod-1")},
    )
    assert body["old"] == body["new"] == {"id": global_id("Product", "prod-1"), "name": "Product 1"}
    assert body["both"] == [{"name": "Product 1"}] * 2

    entities = await api.data(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id name } } }",
        {
            "r": [
                {"__typename": "Product", "id": "prod-1"},
                {"__typename": "Product", "id": global_id("Product", "prod-1")},
            ]
        },
    )
    assert [e["name"] for e in entities["_entities"]] == ["Product 1", "Product 1"]

    wrong = await api.gql(
        "query($id: ID!) { product(id: $id) { id } }", {"id": global_id("User", "prod-1")}
    )
    assert error_codes(wrong) == ["BAD_USER_INPUT"]
    assert "User" in wrong["errors"][0]["message"]


async def test_nodes_batches_each_kind_and_keeps_the_order_asked(api: Api, db) -> None:
    """50 mixed ids, answered in the order asked, null where unknown: the
    products and users in one BatchGetItem with the viewer's session (every
    entity loader feeds the same batch), and the orders, read once the viewer
    is known (whose they are decides), in a second."""
    products = [product(n) for n in range(25)]
    token = await api.sign_up("nodes@example.com")
    me = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    users = [
        (await api.data("{ viewer { id } }", token=await api.sign_up(f"u{n}@example.com")))[
            "viewer"
        ]["id"]
        for n in range(10)
    ]
    orders = [order(stored(me), n) for n in range(10)]
    await put_items(db, [p.to_item() for p in products] + [o.to_item(4) for o in orders])
    ids = [global_id("Product", p.id) for p in products] + users
    ids += [global_id("Order", o.id) for o in orders]
    ids += [global_id("Product", f"missing-{n}") for n in range(5)]
    assert len(ids) == 50

    body = await api.gql(NODES, {"ids": ids}, token=token)

    assert not body.get("errors"), body["errors"]
    answered = body["data"]["nodes"]
    assert [n["id"] if n else None for n in answered] == ids[:45] + [None] * 5
    kinds = [n["__typename"] for n in answered[:45]]
    assert kinds == ["Product"] * 25 + ["User"] * 10 + ["Order"] * 10
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 2}

    many = await api.gql(NODES, {"ids": [global_id("Product", f"p{n}") for n in range(501)]})
    assert error_codes(many) == ["BAD_USER_INPUT"]


async def test_node_applies_the_same_checks_as_order(start_api) -> None:
    api = await start_api(admin_emails=ADMINS)
    admin = await api.sign_up("admin@example.com")
    owner = await api.sign_up("owner@example.com")
    other = await api.sign_up("other@example.com")
    await api.data(
        'mutation { createProduct(input: {id: "mug", name: "Mug", category: "kitchen", '
        'price: "8.50"}) { id } }',
        token=admin,
    )
    placed = await api.data(
        'mutation { placeOrder(input: {items: [{productId: "mug", quantity: 1}]}) { id } }',
        token=owner,
    )
    order_id = placed["placeOrder"]["id"]

    assert (await api.data(NODE, {"id": order_id}, token=owner))["node"]["id"] == order_id
    assert (await api.data(NODE, {"id": order_id}, token=admin))["node"]["id"] == order_id
    denied = await api.gql(NODE, {"id": order_id}, token=other)
    assert denied["data"] == {"node": None}
    assert error_codes(denied) == ["FORBIDDEN"]
    anonymous = await api.gql(NODE, {"id": order_id})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]

    # In a list, only the denied item is null, with its error on its index.
    mug = global_id("Product", "mug")
    mixed = await api.gql(NODES, {"ids": [mug, order_id]}, token=other)
    assert mixed["data"]["nodes"][0] == {"__typename": "Product", "id": mug, "name": "Mug"}
    assert mixed["data"]["nodes"][1] is None
    assert [(e["extensions"]["code"], e["path"]) for e in mixed["errors"]] == [
        ("FORBIDDEN", ["nodes", 1])
    ]

    # The mutations take the new ids and the old ones alike.
    moved = await api.data(
        "mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID) { id status } }",
        {"id": order_id},
        token=admin,
    )
    assert moved["updateOrderStatus"] == {"id": order_id, "status": "PAID"}
    again = await api.data(
        "mutation($id: ID!) { updateOrderStatus(id: $id, status: SHIPPED) { status } }",
        {"id": stored(order_id)},
        token=admin,
    )
    assert again["updateOrderStatus"]["status"] == "SHIPPED"
    by_new_id = await api.data(
        "mutation($p: ID!) { placeOrder(input: {items: [{productId: $p, quantity: 1}]}) "
        "{ items { productId } } }",
        {"p": mug},
        token=owner,
    )
    assert by_new_id["placeOrder"]["items"] == [{"productId": mug}]


async def test_an_id_that_is_not_a_global_id_is_refused_before_any_read(api: Api) -> None:
    malformed = await api.gql(NODE, {"id": "not-a-global-id"})
    assert error_codes(malformed) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "GlobalID" in malformed["errors"][0]["message"]
    unknown_type = await api.gql(NODE, {"id": global_id("Invoice", "1")})
    assert error_codes(unknown_type) == ["BAD_USER_INPUT"]
    for body in (malformed, unknown_type):
        assert body["extensions"]["cost"]["calls"] == {}
