"""shopgraph as an Apollo Federation 2 subgraph: its SDL and _entities."""

from __future__ import annotations

from tests.conftest import Api, error_codes, put_items
from tests.factories import order, product
from tests.ids import global_id, stored

ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Product { id name price }
    ... on User { id name }
    ... on Order { id number total }
  }
}
"""


async def test_the_subgraph_sdl_declares_the_entity_keys(api: Api) -> None:
    sdl = (await api.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert "@link" in sdl and "https://specs.apollo.dev/federation/v2" in sdl
    for entity in ("User", "Product", "Order"):
        assert f'type {entity} implements Node @key(fields: "id")' in sdl


async def test_fifty_product_references_cost_one_batch(api: Api, db) -> None:
    products = [product(n) for n in range(50)]
    await put_items(db, [p.to_item() for p in products])
    representations = [{"__typename": "Product", "id": p.id} for p in reversed(products)]
    representations.append({"__typename": "Product", "id": "gone"})

    body = await api.gql(ENTITIES, {"representations": representations})

    assert not body.get("errors")
    found = body["data"]["_entities"]
    assert [stored(e["id"]) if e else None for e in found] == [p.id for p in reversed(products)] + [
        None
    ]
    assert found[0] == {
        "__typename": "Product",
        "id": global_id("Product", "prod-49"),
        "name": "Product 49",
        "price": "10.00",
    }
    assert body["extensions"]["cost"]["calls"] == {"BatchGetItem": 1}


async def test_user_references_answer_public_fields_and_guard_the_rest(api: Api) -> None:
    token = await api.sign_up("fed@example.com", name="Fed")
    me = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    query = """
    query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name email } } }
    """
    anonymous = await api.gql(query, {"r": [{"__typename": "User", "id": me}]})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    public = await api.data(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }",
        {"r": [{"__typename": "User", "id": me}]},
    )
    assert public["_entities"] == [{"id": me, "name": "Fed"}]
    own = await api.data(query, {"r": [{"__typename": "User", "id": me}]}, token=token)
    assert own["_entities"][0]["email"] == "fed@example.com"


async def test_order_references_follow_who_may_see_the_order(api: Api, db) -> None:
    owner = await api.sign_up("owner@example.com")
    other = await api.sign_up("other@example.com")
    owner_id = (await api.data("{ viewer { id } }", token=owner))["viewer"]["id"]
    placed = order(owner_id, 1, total="12.50")
    await put_items(db, [placed.to_item(4)])
    representations = {"representations": [{"__typename": "Order", "id": placed.id}]}

    assert error_codes(await api.gql(ENTITIES, representations)) == ["UNAUTHENTICATED"]
    assert error_codes(await api.gql(ENTITIES, representations, token=other)) == ["FORBIDDEN"]
    mine = await api.data(ENTITIES, representations, token=owner)
    assert mine["_entities"] == [
        {
            "__typename": "Order",
            "id": global_id("Order", placed.id),
            "number": placed.number,
            "total": "12.50",
        }
    ]


async def test_a_malformed_reference_is_bad_input(api: Api) -> None:
    body = await api.gql(ENTITIES, {"representations": [{"__typename": "Product", "id": "a#b"}]})
    assert error_codes(body) == ["BAD_USER_INPUT"]
