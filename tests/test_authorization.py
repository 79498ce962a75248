"""Who may do what (DESIGN.md, "Errors" and "Who may do what"), as a matrix.

Every Query field and every private User field is asked by four callers:
nobody (no token), the owner of the profile or order, another customer, and an
admin. Each answer is one of: allowed, null, or an error with a code on that
field while the rest of the response still answers.

The private User fields (`email`, `role`, `points`, `createdAt`, `orders`) are
nullable, so a denied one is null with its own error and the user's public `id`
and `name` still answer. A denied field whose type is non-null (`salesStats:
SalesStats!`, ...) is nulled by GraphQL together with its nearest nullable parent
(spec, "Handling Field Errors").
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from shopgraph.data.entities import OrderFlag, OrderRef, OrderStatus, Session
from tests.conftest import Api, error_codes, put_items
from tests.factories import instant, order, order_with_lines, product
from tests.ids import global_id, stored

SHARDS = 4  # the suite's status_shards setting

ANON, OWNER, OTHER, ADMIN = "anonymous", "owner", "other", "admin"
CALLERS = (ANON, OWNER, OTHER, ADMIN)
OK, NULL = "allowed", "null"
UNAUTH, FORBID = "UNAUTHENTICATED", "FORBIDDEN"

OWNER_EMAIL = "owner@example.com"
OWNER_NAME = "Olivia Owner"
PROBE = 'probe: product(id: "prod-1") { name }'  # a public sibling of every field asked


def probed(query: str) -> str:
    """The query with PROBE added as its last root field."""
    body = query.rstrip()
    assert body.endswith("}")
    return f"{body[:-1].rstrip()} {PROBE} }}"


@dataclass
class World:
    api: Api
    tokens: dict[str, str | None]
    ids: dict[str, str]  # caller -> user id
    order_id: str  # the owner's order
    flagged_id: str  # the owner's flagged order
    missing_order_id: str  # a well-formed id of the owner's that has no order

    @property
    def variables(self) -> dict[str, Any]:
        return {
            "owner": self.ids[OWNER],
            "ownerEmail": OWNER_EMAIL,
            "order": self.order_id,
            "missing": self.missing_order_id,
            "product": global_id("Product", "prod-2"),
            "nope": global_id("Product", "nope"),
        }


@pytest.fixture
async def world(api: Api, db) -> World:
    tokens: dict[str, str | None] = {
        ANON: None,
        OWNER: await api.sign_up(OWNER_EMAIL, name=OWNER_NAME),
        OTHER: await api.sign_up("other@example.com", name="Oscar Other"),
        ADMIN: await api.sign_up("admin@example.com", name="Ada Admin"),
    }
    ids = {ANON: ""}
    for caller in (OWNER, OTHER, ADMIN):
        ids[caller] = (await api.data("{ viewer { id } }", token=tokens[caller]))["viewer"]["id"]

    products = [product(1), product(2)]
    placed = order(ids[OWNER], 1, status=OrderStatus.PAID)
    flagged = order(ids[OWNER], 2, status=OrderStatus.PAID).flagged(
        OrderFlag("review", instant(days=3))
    )
    await put_items(
        db,
        [
            *(p.to_item() for p in products),
            *order_with_lines(placed, products, shards=SHARDS),
            *order_with_lines(flagged, products[:1], shards=SHARDS),
        ],
    )
    missing = OrderRef(stored(ids[OWNER]), instant(days=9), "N9999MISSING").encode()
    return World(
        api,
        tokens,
        ids,
        global_id("Order", placed.id),
        global_id("Order", flagged.id),
        global_id("Order", missing),
    )


# --- the Query fields -------------------------------------------------------------------------


def _viewer_is_caller(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["viewer"] == {"id": w.ids[caller]}


def _public_user(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["user"] == {"id": w.ids[OWNER], "name": OWNER_NAME}


def _user_by_email(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["userByEmail"] == {"id": w.ids[OWNER], "name": OWNER_NAME}


def _product(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["product"] == {"id": global_id("Product", "prod-2"), "name": "Product 2"}


def _products(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["products"] == [
        {"id": global_id("Product", "prod-2")},
        None,
        {"id": global_id("Product", "prod-1")},
    ]


def _products_by_category(data: dict[str, Any], w: World, caller: str) -> None:
    assert [stored(n["id"]) for n in data["productsByCategory"]["nodes"]] == ["prod-1", "prod-2"]


def _order(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["order"]["id"] == w.order_id
    assert data["order"]["user"]["id"] == w.ids[OWNER]
    assert len(data["order"]["items"]) == 2


def _orders_by_status(data: dict[str, Any], w: World, caller: str) -> None:
    assert {n["id"] for n in data["ordersByStatus"]["nodes"]} == {w.order_id, w.flagged_id}


def _flagged_orders(data: dict[str, Any], w: World, caller: str) -> None:
    assert [n["id"] for n in data["flaggedOrders"]["nodes"]] == [w.flagged_id]


def _node(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["node"] == {"id": w.order_id, "number": data["node"]["number"]}


def _nodes(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["nodes"] == [{"name": "Product 2"}, None, {"name": OWNER_NAME}]


def _sales_stats(data: dict[str, Any], w: World, caller: str) -> None:
    assert data["salesStats"]["day"] == "2026-03-15"


Check = Callable[[dict[str, Any], World, str], None]

# field -> (query, check of an allowed answer, expected outcome by caller)
QUERY_FIELDS: dict[str, tuple[str, Check, dict[str, str]]] = {
    "viewer": (
        probed("{ viewer { id } }"),
        _viewer_is_caller,
        {ANON: NULL, OWNER: OK, OTHER: OK, ADMIN: OK},
    ),
    "user": (
        probed("query($owner: ID!) { user(id: $owner) { id name } }"),
        _public_user,
        {ANON: OK, OWNER: OK, OTHER: OK, ADMIN: OK},
    ),
    "userByEmail": (
        probed("query($ownerEmail: String!) { userByEmail(email: $ownerEmail) { id name } }"),
        _user_by_email,
        # Admin only: even the owner may not look themself up by email.
        {ANON: UNAUTH, OWNER: FORBID, OTHER: FORBID, ADMIN: OK},
    ),
    "product": (
        probed('{ product(id: "prod-2") { id name } }'),
        _product,
        {ANON: OK, OWNER: OK, OTHER: OK, ADMIN: OK},
    ),
    "products": (
        probed('{ products(ids: ["prod-2", "nope", "prod-1"]) { id } }'),
        _products,
        {ANON: OK, OWNER: OK, OTHER: OK, ADMIN: OK},
    ),
    "productsByCategory": (
        probed('{ productsByCategory(category: "books") { nodes { id } } }'),
        _products_by_category,
        {ANON: OK, OWNER: OK, OTHER: OK, ADMIN: OK},
    ),
    "order": (
        probed("query($order: ID!) { order(id: $order) { id user { id } items { quantity } } }"),
        _order,
        {ANON: UNAUTH, OWNER: OK, OTHER: FORBID, ADMIN: OK},
    ),
    "order(missing)": (
        probed("query($missing: ID!) { order(id: $missing) { id } }"),
        lambda data, w, caller: None,
        # A missing order is null for anyone signed in; nobody must sign in first.
        {ANON: UNAUTH, OWNER: NULL, OTHER: NULL, ADMIN: NULL},
    ),
    "ordersByStatus": (
        probed("{ ordersByStatus(status: PAID) { nodes { id } } }"),
        _orders_by_status,
        {ANON: UNAUTH, OWNER: FORBID, OTHER: FORBID, ADMIN: OK},
    ),
    "flaggedOrders": (
        probed("{ flaggedOrders { nodes { id } } }"),
        _flagged_orders,
        {ANON: UNAUTH, OWNER: FORBID, OTHER: FORBID, ADMIN: OK},
    ),
    "node": (
        probed("query($order: ID!) { node(id: $order) { id ... on Order { number } } }"),
        _node,
        # The same checks as order(id:).
        {ANON: UNAUTH, OWNER: OK, OTHER: FORBID, ADMIN: OK},
    ),
    "nodes": (
        probed(
            "query($product: ID!, $nope: ID!, $owner: ID!) { nodes(ids: [$product, $nope, $owner])"
            " { ... on Product { name } ... on User { name } } }"
        ),
        _nodes,
        {ANON: OK, OWNER: OK, OTHER: OK, ADMIN: OK},
    ),
    "salesStats": (
        probed('{ salesStats(day: "2026-03-15") { day completedOrders revenue } }'),
        _sales_stats,
        {ANON: UNAUTH, OWNER: FORBID, OTHER: FORBID, ADMIN: OK},
    ),
}

# Root fields of non-null type: when one of them is denied, GraphQL nulls `data` as a whole.
NON_NULL_ROOTS = {
    "products",
    "nodes",
    "productsByCategory",
    "ordersByStatus",
    "flaggedOrders",
    "salesStats",
}


def test_the_matrix_covers_every_query_field() -> None:
    from shopgraph.schema.build import build_schema

    query_type = build_schema()._schema.query_type
    assert query_type is not None
    asked = {name.split("(")[0] for name in QUERY_FIELDS}
    assert all(set(outcomes) == set(CALLERS) for _, _, outcomes in QUERY_FIELDS.values())
    assert set(PRIVATE_OUTCOMES) == set(CALLERS)
    public_fields = {f for f in query_type.fields if not f.startswith("_")}
    assert public_fields == asked
    for name, field in query_type.fields.items():
        if name in asked:
            assert (name in NON_NULL_ROOTS) == str(field.type).endswith("!"), name


@pytest.mark.parametrize(
    ("field", "caller", "expected"),
    [
        pytest.param(field, caller, expected, id=f"{field}-{caller}-{expected}")
        for field, (_, _, outcomes) in QUERY_FIELDS.items()
        for caller, expected in outcomes.items()
    ],
)
async def test_query_field(world: World, field: str, caller: str, expected: str) -> None:
    query, check, _ = QUERY_FIELDS[field]
    root = field.split("(")[0]

    body = await world.api.gql(query, world.variables, token=world.tokens[caller])

    if expected == OK:
        assert not body.get("errors"), body["errors"]
        check(body["data"], world, caller)
        assert body["data"]["probe"] == {"name": "Product 1"}
    elif expected == NULL:
        assert not body.get("errors"), body["errors"]
        assert body["data"][root] is None
        assert body["data"]["probe"] == {"name": "Product 1"}
    else:
        assert error_codes(body) == [expected]
        assert body["errors"][0]["path"] == [root]
        if root in NON_NULL_ROOTS:
            assert body["data"] is None
        else:
            assert body["data"][root] is None
            assert body["data"]["probe"] == {"name": "Product 1"}


# --- the private User fields ------------------------------------------------------------------

PRIVATE_FIELDS: dict[str, tuple[str, Check]] = {
    "email": ("email", lambda d, w, c: _eq(d["target"]["email"], OWNER_EMAIL)),
    "role": ("role", lambda d, w, c: _eq(d["target"]["role"], "CUSTOMER")),
    "points": ("points", lambda d, w, c: _eq(d["target"]["points"], 0)),
    "createdAt": ("createdAt", lambda d, w, c: _eq(d["target"]["createdAt"][-1], "Z")),
    "orders": (
        "orders { nodes { id } }",
        lambda d, w, c: _eq(
            {n["id"] for n in d["target"]["orders"]["nodes"]}, {w.order_id, w.flagged_id}
        ),
    ),
}
PRIVATE_OUTCOMES = {ANON: UNAUTH, OWNER: OK, OTHER: FORBID, ADMIN: OK}


def _eq(actual: Any, expected: Any) -> None:
    assert actual == expected


def test_the_matrix_covers_every_private_user_field() -> None:
    from shopgraph.schema.build import build_schema

    user_type = build_schema()._schema.type_map["User"]
    assert set(user_type.fields) - {"id", "name"} == set(PRIVATE_FIELDS)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "caller", "expected"),
    [
        pytest.param(field, caller, expected, id=f"User.{field}-{caller}-{expected}")
        for field in PRIVATE_FIELDS
        for caller, expected in PRIVATE_OUTCOMES.items()
    ],
)
async def test_private_user_field(world: World, field: str, caller: str, expected: str) -> None:
    selection, check = PRIVATE_FIELDS[field]
    query = (
        "query($owner: ID!) { public: user(id: $owner) { id name }"
        f" target: user(id: $owner) {{ id name {selection} }} {PROBE} }}"
    )

    body = await world.api.gql(query, world.variables, token=world.tokens[caller])

    public = {"id": world.ids[OWNER], "name": OWNER_NAME}
    assert body["data"]["public"] == public
    assert body["data"]["probe"] == {"name": "Product 1"}
    if expected == OK:
        assert not body.get("errors"), body["errors"]
        assert body["data"]["target"]["name"] == OWNER_NAME
        check(body["data"], world, caller)
    else:
        assert error_codes(body) == [expected]
        assert body["errors"][0]["path"] == ["target", field]
        # Nullable: the field alone is null, the user's public fields still answer.
        assert body["data"]["target"] == {"id": world.ids[OWNER], "name": OWNER_NAME, field: None}


async def test_a_denied_field_is_one_error_among_answers(world: World) -> None:
    """Another customer asks a page's worth of things; only what is not theirs fails."""
    query = """
    query($owner: ID!, $order: ID!) {
      viewer { id name email role points }
      owner: user(id: $owner) { id name }
      ownersEmail: user(id: $owner) { email }
      ownersOrder: order(id: $order) { id }
      product(id: "prod-1") { name price }
    }
    """
    body = await world.api.gql(query, world.variables, token=world.tokens[OTHER])

    assert sorted((e["extensions"]["code"], tuple(e["path"])) for e in body["errors"]) == [
        (FORBID, ("ownersEmail", "email")),
        (FORBID, ("ownersOrder",)),
    ]
    data = body["data"]
    assert data["viewer"] == {
        "id": world.ids[OTHER],
        "name": "Oscar Other",
        "email": "other@example.com",
        "role": "CUSTOMER",
        "points": 0,
    }
    assert data["owner"] == {"id": world.ids[OWNER], "name": OWNER_NAME}
    assert data["ownersEmail"] == {"email": None}
    assert data["ownersOrder"] is None
    assert data["product"] == {"name": "Product 1", "price": "10.00"}


async def test_an_admin_sees_private_fields_through_an_order(world: World) -> None:
    body = await world.api.data(
        "query($order: ID!) { order(id: $order) { user { id name email role points } } }",
        world.variables,
        token=world.tokens[ADMIN],
    )
    assert body["order"]["user"] == {
        "id": world.ids[OWNER],
        "name": OWNER_NAME,
        "email": OWNER_EMAIL,
        "role": "CUSTOMER",
        "points": 0,
    }


# --- tokens that count as no token ------------------------------------------------------------


async def _session_for(db, token: str, user_id: str, *, ttl: int) -> str:
    """A session item for token, written straight to the table."""
    session = Session(
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        user_id=stored(user_id),
        created_at=instant(),
        expires_at=instant(days=1),
        ttl=ttl,
    )
    await put_items(db, [session.to_item()])
    return f"Bearer {token}"


async def _authorization(kind: str, world: World, db) -> str:
    owner = world.ids[OWNER]
    if kind == "unknown":
        return f"Bearer {secrets.token_urlsafe(32)}"
    if kind == "unknown, naming a user":
        return f"Bearer {owner}.{secrets.token_urlsafe(32)}"
    if kind == "expired":
        # A session past its ttl, still in the table (TTL deletion lags).
        return await _session_for(db, secrets.token_urlsafe(32), owner, ttl=int(time.time()) - 60)
    if kind == "expired, naming its user":
        token = f"{owner}.{secrets.token_urlsafe(32)}"
        return await _session_for(db, token, owner, ttl=int(time.time()) - 60)
    if kind == "naming another user than its session":
        # The token's prefix says the owner; the session belongs to someone else.
        token = f"{owner}.{secrets.token_urlsafe(32)}"
        return await _session_for(db, token, world.ids[OTHER], ttl=int(time.time()) + 3600)
    if kind == "another user's id put before a real token":
        real = world.tokens[OTHER]
        return f"Bearer {owner}.{real.partition('.')[2]}"
    if kind == "ended":
        token = await world.api.log_in(OWNER_EMAIL, "correct-horse")
        assert (await world.api.data("mutation { logOut }", token=token)) == {"logOut": True}
        return f"Bearer {token}"
    if kind == "garbage":
        return "Bearer not a token at all #!%$\u00e9"
    if kind == "overlong":
        return "Bearer " + "A" * 5000
    if kind == "wrong scheme":
        return f"Basic {world.tokens[OWNER]}"
    if kind == "scheme only":
        return "Bearer"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "unknown",
        "unknown, naming a user",
        "expired",
        "expired, naming its user",
        "naming another user than its session",
        "another user's id put before a real token",
        "ended",
        "garbage",
        "overlong",
        "wrong scheme",
        "scheme only",
    ],
)
async def test_a_token_that_does_not_work_counts_as_no_token(world: World, db, kind: str) -> None:
    authorization = await _authorization(kind, world, db)

    async def ask(query: str) -> dict[str, Any]:
        response = await world.api.post(
            {"query": query, "variables": world.variables}, Authorization=authorization
        )
        assert response.status == 200, await response.text()
        return await response.json()

    public = await ask(probed("query($owner: ID!) { viewer { id } user(id: $owner) { id name } }"))
    assert not public.get("errors"), public["errors"]
    assert public["data"] == {
        "viewer": None,
        "user": {"id": world.ids[OWNER], "name": OWNER_NAME},
        "probe": {"name": "Product 1"},
    }

    private = await ask(
        probed(
            "query($owner: ID!, $order: ID!) {"
            " a: user(id: $owner) { email } b: order(id: $order) { id } }"
        )
    )
    assert sorted((e["extensions"]["code"], e["path"][0]) for e in private["errors"]) == [
        (UNAUTH, "a"),
        (UNAUTH, "b"),
    ]
    assert private["data"] == {"a": {"email": None}, "b": None, "probe": {"name": "Product 1"}}

    log_out = await ask("mutation { logOut }")
    assert error_codes(log_out) == [UNAUTH]


async def test_an_anonymous_caller_gets_a_users_id_and_name_and_one_error_on_email(
    world: World,
) -> None:
    body = await world.api.gql(
        "query($owner: ID!) { user(id: $owner) { id name email } }", world.variables
    )
    assert body["data"] == {"user": {"id": world.ids[OWNER], "name": OWNER_NAME, "email": None}}
    assert [(e["extensions"]["code"], e["path"]) for e in body["errors"]] == [
        (UNAUTH, ["user", "email"])
    ]


async def test_the_session_and_its_user_are_one_batch(world: World, db) -> None:
    """A token names its user, so the session and the user are read in the
    same BatchGetItem; a token from before tokens named their user still
    signs in, with the session read first."""

    async def viewer(authorization: str) -> tuple[Any, dict[str, int]]:
        response = await world.api.post({"query": "{ viewer { id } }"}, Authorization=authorization)
        body = await response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]["viewer"], body["extensions"]["cost"]["calls"]

    token = world.tokens[OWNER]
    assert token is not None and token.startswith(stored(world.ids[OWNER]) + ".")
    assert await viewer(f"Bearer {token}") == ({"id": world.ids[OWNER]}, {"BatchGetItem": 1})

    older = await _session_for(
        db, secrets.token_urlsafe(32), world.ids[OWNER], ttl=int(time.time()) + 3600
    )
    assert await viewer(older) == ({"id": world.ids[OWNER]}, {"BatchGetItem": 2})
