"""The write mutations, through the real server against the real engine.

Status transitions and who may make them, a refused mutation writes nothing at
all, the sparse flagged index, product writes, and the TransactionConflict retry
path (conflicts injected through botocore's own event system on the server's
real client). What happens under concurrency is in test_concurrency.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from shopgraph.data import entities, model
from shopgraph.data.codec import Item, key_attributes
from shopgraph.server.app import STATE
from tests.conftest import Api, error_codes, put_items, table_items
from tests.factories import product
from tests.ids import global_id, stored

ADMIN_EMAIL = "admin@example.com"
STATUSES = ("PENDING", "PAID", "SHIPPED", "COMPLETED", "CANCELLED")

SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }"
CREATE_PRODUCT = """
mutation($i: CreateProductInput!) {
  createProduct(input: $i) { id name description category price stock viewCount }
}
"""
UPDATE_PRODUCT = """
mutation($id: ID!, $i: UpdateProductInput!) {
  updateProduct(id: $id, input: $i) { id name description category price stock updatedAt }
}
"""
PRODUCT = "query($id: ID!) { product(id: $id) { id name category price stock viewCount } }"
BY_CATEGORY = """
query($c: String!) { productsByCategory(category: $c, first: 100) { nodes { id } } }
"""
RECORD_VIEW = "mutation($p: ID!) { recordProductView(productId: $p) }"
PLACE_ORDER = """
mutation($i: PlaceOrderInput!) {
  placeOrder(input: $i) {
    id status total items { productId quantity unitPrice lineTotal }
  }
}
"""
UPDATE_STATUS = """
mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { id status } }
"""
TRANSFER = """
mutation($i: TransferPointsInput!) {
  transferPoints(input: $i) { from { points } to { id } points }
}
"""
FLAG = """
mutation($id: ID!, $r: String!) { flagOrder(id: $id, reason: $r) { id flag { reason } } }
"""
UNFLAG = "mutation($id: ID!) { unflagOrder(id: $id) { id flag { reason } } }"
FLAGGED = "{ flaggedOrders(first: 100) { nodes { id flag { reason flaggedAt } } } }"
# Every status listing at once, each under its status as alias.
EVERY_STATUS = (
    "{ "
    + " ".join(
        f"{s}: ordersByStatus(status: {s}, first: 100) {{ nodes {{ id }} }}" for s in STATUSES
    )
    + " }"
)
VIEWER_POINTS = "{ viewer { points } }"


# --- helpers --------------------------------------------------------------------------------------


async def sign_up(api: Api, email: str) -> tuple[str, str]:
    """A new user's token and id."""
    data = await api.data(
        SIGN_UP, {"i": {"email": email, "name": "Tester", "password": "correct-horse"}}
    )
    return data["signUp"]["token"], data["signUp"]["user"]["id"]


async def create_product(api: Api, admin: str, **fields: Any) -> dict[str, Any]:
    given = {"name": "Widget", "category": "widgets", "price": "10.00", **fields}
    return (await api.data(CREATE_PRODUCT, {"i": given}, token=admin))["createProduct"]


async def stock_of(api: Api, product_id: str) -> int | None:
    return (await api.data(PRODUCT, {"id": product_id}))["product"]["stock"]


async def place_order(
    api: Api, token: str, lines: list[tuple[str, int]], key: str | None = None
) -> dict[str, Any]:
    items = [{"productId": p, "quantity": q} for p, q in lines]
    return await api.gql(PLACE_ORDER, {"i": {"items": items, "idempotencyKey": key}}, token)


async def placed(api: Api, token: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
    body = await place_order(api, token, lines)
    assert not body.get("errors"), body["errors"]
    return body["data"]["placeOrder"]


async def move(api: Api, token: str, order_id: str, status: str) -> dict[str, Any]:
    return await api.gql(UPDATE_STATUS, {"id": order_id, "s": status}, token)


async def transfer(
    api: Api, token: str, to: str, points: int, key: str | None = None
) -> dict[str, Any]:
    return await api.gql(
        TRANSFER, {"i": {"toUserId": to, "points": points, "idempotencyKey": key}}, token
    )


async def set_points(db: Any, user_id: str, points: int) -> None:
    await db.call(
        "UpdateItem",
        TableName=db.table_name,
        Key=key_attributes(entities.USER.key(id=stored(user_id))),
        UpdateExpression="SET points = :p",
        ExpressionAttributeValues={":p": {"N": str(points)}},
    )


async def balances_by_user(db: Any) -> dict[str, int]:
    """Every user's points as stored, by the user's global id."""
    return {
        global_id("User", i["id"]): int(i["points"])
        for i in await table_items(db)
        if i["entityType"] == "User"
    }


async def raw_item(db: Any, key: dict[str, str]) -> Item | None:
    return await db.get(key, consistent=True)


async def raw_order(db: Any, order_id: str) -> Item | None:
    return await raw_item(db, entities.OrderRef.decode(stored(order_id)).key)


def entity_counts(items: list[Item]) -> Counter[str]:
    return Counter(i.get("entityType") for i in items)


def only_code(body: dict[str, Any]) -> str:
    codes = error_codes(body)
    assert len(codes) == 1, body
    return codes[0]


async def listed_under(api: Api, admin: str, order_id: str) -> list[str]:
    """The statuses under which ordersByStatus lists the order."""
    data = await api.data(EVERY_STATUS, token=admin)
    return [s for s in STATUSES if order_id in {n["id"] for n in data[s]["nodes"]}]


# --- status transitions, one at a time -----------------------------------------------------------


async def test_an_order_goes_from_pending_to_completed_and_awards_floor_of_total(
    api: Api, db
) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, customer_id = await sign_up(api, "loyal@example.com")
    tracked = await create_product(api, admin, price="21.99", stock=10)
    untracked = await create_product(api, admin, price="20.99")

    order = await placed(api, customer, [(tracked["id"], 2), (untracked["id"], 1)])
    assert order["total"] == "64.97"
    assert order["status"] == "PENDING"
    assert await stock_of(api, tracked["id"]) == 8
    assert await stock_of(api, untracked["id"]) is None

    for status in ("PAID", "SHIPPED", "COMPLETED"):
        body = await move(api, admin, order["id"], status)
        assert body["data"]["updateOrderStatus"]["status"] == status, body
        assert await listed_under(api, admin, order["id"]) == [status]
        expected_points = 64 if status == "COMPLETED" else 0
        assert (await api.data(VIEWER_POINTS, token=customer))["viewer"]["points"] == (
            expected_points
        )

    user_item = await raw_item(db, entities.USER.key(id=stored(customer_id)))
    assert int(user_item["points"]) == 64
    for status in ("COMPLETED", "CANCELLED", "PAID"):
        assert only_code(await move(api, admin, order["id"], status)) == (
            "INVALID_STATUS_TRANSITION"
        )
    assert (await api.data(VIEWER_POINTS, token=customer))["viewer"]["points"] == 64
    assert await stock_of(api, tracked["id"]) == 8  # a completed order keeps its stock


async def test_transactions_report_the_write_units_they_cost(api: Api) -> None:
    """Where the engine reports none (moto), units are counted as DynamoDB bills them."""
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, _ = await sign_up(api, "units@example.com")
    first = await create_product(api, admin, price="3.00", stock=10)
    second = await create_product(api, admin, price="4.00")
    body = await place_order(api, customer, [(first["id"], 1), (second["id"], 2)])
    assert not body.get("errors"), body["errors"]
    cost = body["extensions"]["cost"]
    assert cost["calls"]["TransactWriteItems"] == 1
    # The order, its two lines and the tracked stock, at least; DynamoDB
    # Local reports half of what AWS bills for a transaction.
    assert cost["writeCapacityUnits"] >= 4
    moved = await api.gql(
        UPDATE_STATUS, {"id": body["data"]["placeOrder"]["id"], "s": "PAID"}, admin
    )
    assert not moved.get("errors"), moved["errors"]
    assert moved["extensions"]["cost"]["writeCapacityUnits"] >= 1
    assert moved["extensions"]["cost"]["estimatedUsd"] > 0


async def test_a_customer_may_cancel_only_their_own_pending_or_paid_order(api: Api, db) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    owner, _ = await sign_up(api, "owner@example.com")
    other, _ = await sign_up(api, "other@example.com")
    item = await create_product(api, admin, stock=10)

    first = await placed(api, owner, [(item["id"], 3)])
    assert await stock_of(api, item["id"]) == 7
    body = await move(api, owner, first["id"], "CANCELLED")
    assert body["data"]["updateOrderStatus"]["status"] == "CANCELLED", body
    assert await stock_of(api, item["id"]) == 10
    assert await listed_under(api, admin, first["id"]) == ["CANCELLED"]

    second = await placed(api, owner, [(item["id"], 2)])
    assert only_code(await move(api, other, second["id"], "CANCELLED")) == "FORBIDDEN"
    for status in ("PAID", "SHIPPED", "COMPLETED"):
        assert only_code(await move(api, owner, second["id"], status)) == "FORBIDDEN"
    assert only_code(await move(api, admin, second["id"], "PENDING")) == (
        "INVALID_STATUS_TRANSITION"
    )
    assert (await raw_order(db, second["id"]))["status"] == "PENDING"
    assert await stock_of(api, item["id"]) == 8

    paid = await move(api, admin, second["id"], "PAID")
    assert paid["data"]["updateOrderStatus"]["status"] == "PAID", paid
    assert only_code(await move(api, admin, second["id"], "PAID")) == "INVALID_STATUS_TRANSITION"
    assert only_code(await move(api, other, second["id"], "CANCELLED")) == "FORBIDDEN"
    # The contract lets an owner cancel their own PAID order too.
    body = await move(api, owner, second["id"], "CANCELLED")
    assert body["data"]["updateOrderStatus"]["status"] == "CANCELLED", body
    assert await stock_of(api, item["id"]) == 10
    assert only_code(await move(api, owner, second["id"], "CANCELLED")) == (
        "INVALID_STATUS_TRANSITION"
    )
    assert await stock_of(api, item["id"]) == 10  # restocked once


# --- nothing half-written -------------------------------------------------------------------------


@dataclass
class Shop:
    api: Api
    admin: str
    customer: str
    customer_id: str
    friend_id: str
    many: list[str]  # 50 products with stock
    completed_order: str
    pending_order: str

    @property
    def missing_order(self) -> str:
        """A well-formed id of an order that does not exist."""
        return entities.OrderRef(
            self.customer_id, "2026-03-15T10:00:00.000Z", "NOSUCHORDER"
        ).encode()


@pytest.fixture
async def shop(api: Api, db) -> Shop:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, customer_id = await sign_up(api, "shopper@example.com")
    _, friend_id = await sign_up(api, "friend@example.com")
    await create_product(api, admin, id="plenty", stock=100)
    await create_product(api, admin, id="scarce", stock=1)
    await create_product(api, admin, id="untracked")
    many = [product(n, stock=10) for n in range(50)]
    await put_items(db, [p.to_item() for p in many])
    done = await placed(api, customer, [("plenty", 1)])
    for status in ("PAID", "SHIPPED", "COMPLETED"):
        assert not (await move(api, admin, done["id"], status)).get("errors")
    pending = await placed(api, customer, [("plenty", 1)])
    await set_points(db, customer_id, 10)
    return Shop(
        api,
        admin,
        customer,
        customer_id,
        friend_id,
        [p.id for p in many],
        done["id"],
        pending["id"],
    )


Attempt = Callable[[Shop], Awaitable[dict[str, Any]]]


def ordering(*lines: tuple[str, int], key: str | None = None) -> Attempt:
    return lambda s: place_order(s.api, s.customer, list(lines), key)


def creating(**fields: Any) -> Attempt:
    given = {"name": "Widget", "category": "widgets", "price": "10.00", **fields}
    return lambda s: s.api.gql(CREATE_PRODUCT, {"i": given}, s.admin)


def updating(product_id: str, **fields: Any) -> Attempt:
    return lambda s: s.api.gql(UPDATE_PRODUCT, {"id": product_id, "i": fields}, s.admin)


ORDER_FAILURES: dict[str, tuple[Attempt, str]] = {
    "out of stock": (ordering(("plenty", 2), ("untracked", 1), ("scarce", 2)), "OUT_OF_STOCK"),
    "out of stock, keyed": (ordering(("plenty", 2), ("scarce", 2), key="k-1"), "OUT_OF_STOCK"),
    "unknown product": (ordering(("plenty", 1), ("no-such-product", 1)), "BAD_USER_INPUT"),
    "50 distinct products": (
        lambda s: place_order(s.api, s.customer, [(p, 1) for p in s.many]),
        "BAD_USER_INPUT",
    ),
    "quantity 0": (ordering(("plenty", 0)), "BAD_USER_INPUT"),
    "quantity 1000": (ordering(("plenty", 1000)), "BAD_USER_INPUT"),
    "merged quantity 1000": (ordering(("plenty", 500), ("plenty", 500)), "BAD_USER_INPUT"),
    "empty order": (ordering(), "BAD_USER_INPUT"),
    "anonymous": (lambda s: place_order(s.api, "", [("plenty", 1)]), "UNAUTHENTICATED"),
}
TRANSFER_FAILURES: dict[str, tuple[Attempt, str]] = {
    "insufficient points": (
        lambda s: transfer(s.api, s.customer, s.friend_id, 11),
        "INSUFFICIENT_POINTS",
    ),
    "insufficient points, keyed": (
        lambda s: transfer(s.api, s.customer, s.friend_id, 11, key="k-2"),
        "INSUFFICIENT_POINTS",
    ),
    "unknown recipient": (lambda s: transfer(s.api, s.customer, "nobody", 1), "NOT_FOUND"),
    "self-transfer": (lambda s: transfer(s.api, s.customer, s.customer_id, 1), "BAD_USER_INPUT"),
    "zero points": (lambda s: transfer(s.api, s.customer, s.friend_id, 0), "BAD_USER_INPUT"),
}
TRANSITION_FAILURES: dict[str, tuple[Attempt, str]] = {
    "completed to cancelled": (
        lambda s: move(s.api, s.admin, s.completed_order, "CANCELLED"),
        "INVALID_STATUS_TRANSITION",
    ),
    "completed to completed": (
        lambda s: move(s.api, s.admin, s.completed_order, "COMPLETED"),
        "INVALID_STATUS_TRANSITION",
    ),
    "pending to shipped": (
        lambda s: move(s.api, s.admin, s.pending_order, "SHIPPED"),
        "INVALID_STATUS_TRANSITION",
    ),
    "pending to pending": (
        lambda s: move(s.api, s.admin, s.pending_order, "PENDING"),
        "INVALID_STATUS_TRANSITION",
    ),
    "a customer marking their order paid": (
        lambda s: move(s.api, s.customer, s.pending_order, "PAID"),
        "FORBIDDEN",
    ),
    "flag of a missing order": (
        lambda s: s.api.gql(FLAG, {"id": s.missing_order, "r": "why"}, s.admin),
        "NOT_FOUND",
    ),
    "unflag of a missing order": (
        lambda s: s.api.gql(UNFLAG, {"id": s.missing_order}, s.admin),
        "NOT_FOUND",
    ),
    "transition of a missing order": (
        lambda s: move(s.api, s.admin, s.missing_order, "PAID"),
        "NOT_FOUND",
    ),
}
PRODUCT_FAILURES: dict[str, tuple[Attempt, str]] = {
    "existing product id": (creating(id="plenty", name="Impostor", stock=1), "CONFLICT"),
    "update of a missing product": (updating("no-such-product", name="X"), "NOT_FOUND"),
    "price -1": (creating(price="-1"), "BAD_USER_INPUT"),
    "price 1.999": (creating(price="1.999"), "BAD_USER_INPUT"),
    "update to price -1": (updating("plenty", price="-1"), "BAD_USER_INPUT"),
    "update to price 1.999": (updating("plenty", price="1.999"), "BAD_USER_INPUT"),
}


async def refuse_each(shop: Shop, db: Any, failures: dict[str, tuple[Attempt, str]]) -> None:
    """Each attempt is refused with its code, and the table is exactly as it was."""
    for case, (attempt, code) in failures.items():
        before = await table_items(db)

        body = await attempt(shop)

        assert error_codes(body) == [code], (case, body)
        assert body["data"] is None, case
        assert await table_items(db) == before, case


async def test_a_refused_order_writes_nothing(shop: Shop, db) -> None:
    await refuse_each(shop, db, ORDER_FAILURES)


async def test_a_refused_transfer_writes_nothing(shop: Shop, db) -> None:
    await refuse_each(shop, db, TRANSFER_FAILURES)


async def test_a_refused_transition_writes_nothing(shop: Shop, db) -> None:
    await refuse_each(shop, db, TRANSITION_FAILURES)


async def test_a_refused_product_write_writes_nothing(shop: Shop, db) -> None:
    await refuse_each(shop, db, PRODUCT_FAILURES)


# --- the sparse flagged index ---------------------------------------------------------------------


async def test_flagging_puts_an_order_in_the_sparse_index_and_unflagging_removes_it(
    api: Api, db
) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, _ = await sign_up(api, "flagged@example.com")
    item = await create_product(api, admin)
    suspicious = await placed(api, customer, [(item["id"], 1)])
    innocent = await placed(api, customer, [(item["id"], 2)])
    assert (await api.data(FLAGGED, token=admin))["flaggedOrders"]["nodes"] == []

    flagged = await api.data(FLAG, {"id": suspicious["id"], "r": "card mismatch"}, token=admin)

    assert flagged["flagOrder"]["flag"] == {"reason": "card mismatch"}
    nodes = (await api.data(FLAGGED, token=admin))["flaggedOrders"]["nodes"]
    assert [(n["id"], n["flag"]["reason"]) for n in nodes] == [(suspicious["id"], "card mismatch")]
    stored = await raw_order(db, suspicious["id"])
    assert stored["GSI2PK"] == "FLAGGED"
    assert stored["flagReason"] == "card mismatch"

    unflagged = await api.data(UNFLAG, {"id": suspicious["id"]}, token=admin)

    assert unflagged["unflagOrder"]["flag"] is None
    assert (await api.data(FLAGGED, token=admin))["flaggedOrders"]["nodes"] == []
    stored = await raw_order(db, suspicious["id"])
    assert not {"GSI2PK", "GSI2SK", "flagReason", "flaggedAt"} & set(stored)
    assert stored["status"] == "PENDING"
    assert not {"GSI2PK", "GSI2SK", "flagReason", "flaggedAt"} & set(
        await raw_order(db, innocent["id"])
    )


# --- products -------------------------------------------------------------------------------------


async def test_create_product_generates_an_id_and_answers_prices_in_cents(api: Api, db) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)

    created = await create_product(api, admin, name="Lamp", price="19.9", stock=4)

    assert model.ID_PATTERN.match(stored(created["id"]))
    assert created["price"] == "19.90"
    assert created["viewCount"] == 0
    assert (await api.data(PRODUCT, {"id": created["id"]}))["product"] == {
        "id": created["id"],
        "name": "Lamp",
        "category": "widgets",
        "price": "19.90",
        "stock": 4,
        "viewCount": 0,
    }
    another = await create_product(api, admin, name="Lamp", price="19.9")
    assert another["id"] != created["id"]


async def listing(api: Api, category: str) -> list[str]:
    data = await api.data(BY_CATEGORY, {"c": category})
    return [stored(n["id"]) for n in data["productsByCategory"]["nodes"]]


async def test_a_new_category_moves_a_product_between_listings(api: Api, db) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    moved = await create_product(api, admin, id="moving", category="books")
    await create_product(api, admin, id="staying", category="books")
    assert await listing(api, "books") == ["moving", "staying"]

    body = await api.data(UPDATE_PRODUCT, {"id": "moving", "i": {"category": "games"}}, admin)

    assert body["updateProduct"]["category"] == "games"
    assert body["updateProduct"]["name"] == moved["name"]
    assert body["updateProduct"]["updatedAt"]
    assert await listing(api, "books") == ["staying"]
    assert await listing(api, "games") == ["moving"]
    assert (await raw_item(db, entities.PRODUCT.key(id="moving")))["GSI1PK"] == "CAT#games"


async def test_stock_null_stops_tracking_stock(api: Api, db) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, _ = await sign_up(api, "bulk@example.com")
    item = await create_product(api, admin, stock=3, description="Handmade")

    body = await api.data(UPDATE_PRODUCT, {"id": item["id"], "i": {"stock": None}}, admin)

    assert body["updateProduct"]["stock"] is None
    assert body["updateProduct"]["description"] == "Handmade"  # left as it was
    assert "stock" not in await raw_item(db, entities.PRODUCT.key(id=stored(item["id"])))
    order = await placed(api, customer, [(item["id"], 999)])
    assert order["items"][0]["quantity"] == 999
    assert await stock_of(api, item["id"]) is None

    body = await api.data(UPDATE_PRODUCT, {"id": item["id"], "i": {"stock": 2}}, admin)
    assert body["updateProduct"]["stock"] == 2
    assert only_code(await place_order(api, customer, [(item["id"], 3)])) == "OUT_OF_STOCK"


async def test_only_an_admin_may_create_or_update_products(api: Api, db) -> None:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, _ = await sign_up(api, "customer@example.com")
    await create_product(api, admin, id="existing")
    before = await table_items(db)
    new = {"i": {"name": "X", "category": "c", "price": "1.00"}}
    change = {"id": "existing", "i": {"price": "0.01"}}

    assert only_code(await api.gql(CREATE_PRODUCT, new, customer)) == "FORBIDDEN"
    assert only_code(await api.gql(CREATE_PRODUCT, new)) == "UNAUTHENTICATED"
    assert only_code(await api.gql(UPDATE_PRODUCT, change, customer)) == "FORBIDDEN"
    assert only_code(await api.gql(UPDATE_PRODUCT, change)) == "UNAUTHENTICATED"
    assert await table_items(db) == before


# --- the TransactionConflict retry path -----------------------------------------------------------


class InjectedConflicts:
    """Makes the server's own client answer its next `count` TransactWriteItems calls
    with a TransactionCanceledException whose reasons hold a TransactionConflict.

    The handler runs on botocore's 'before-call' event: a response from it
    short-circuits the HTTP request (aiobotocore's `_make_api_call`), and the
    client raises the error from the parsed response as it would from the wire.
    """

    EVENT = "before-call.dynamodb.TransactWriteItems"

    def __init__(self, api: Api, count: int) -> None:
        self.client = api.http.server.app[STATE].client
        self.left = count
        self.injected = 0

    def handler(
        self, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.left <= 0:
            return None
        self.left -= 1
        self.injected += 1
        body = params["body"]
        items = json.loads(body.decode() if isinstance(body, bytes) else body)["TransactItems"]
        reasons = [{"Code": "None"}] * len(items)
        reasons[0] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing"}
        parsed = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Injected conflict"},
            "Message": "Injected conflict",
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        http = AWSResponse(params.get("url", ""), 400, HTTPHeaders(), None)
        return http, parsed

    def __enter__(self) -> InjectedConflicts:
        self.client.meta.events.register_first(self.EVENT, self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.EVENT, self.handler)


@dataclass
class Conflicted:
    api: Api
    admin: str
    customer: str
    friend_id: str
    product_id: str
    order_id: str


@pytest.fixture
async def conflicted(api: Api, db) -> Conflicted:
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer, customer_id = await sign_up(api, "conflicted@example.com")
    _, friend_id = await sign_up(api, "friend@example.com")
    item = await create_product(api, admin, id="contested", stock=10)
    order = await placed(api, customer, [(item["id"], 2)])
    await set_points(db, customer_id, 100)
    return Conflicted(api, admin, customer, friend_id, item["id"], order["id"])


MUTATIONS: dict[str, Callable[[Conflicted], Awaitable[dict[str, Any]]]] = {
    "placeOrder": lambda c: place_order(c.api, c.customer, [(c.product_id, 3)], "conflict-1"),
    "transferPoints": lambda c: transfer(c.api, c.customer, c.friend_id, 40, "conflict-2"),
    "updateOrderStatus": lambda c: move(c.api, c.admin, c.order_id, "CANCELLED"),
}


async def test_transaction_conflicts_are_retried(conflicted: Conflicted, db) -> None:
    for mutation, send in MUTATIONS.items():
        before = await table_items(db)

        with InjectedConflicts(conflicted.api, 2) as injected:
            body = await send(conflicted)

        assert not body.get("errors"), (mutation, body)
        assert injected.injected == 2, mutation
        assert body["extensions"]["cost"]["calls"]["TransactWriteItems"] == 3, mutation
        assert await table_items(db) != before, mutation

    counts = entity_counts(await table_items(db))
    assert counts["Order"] == 2  # the fixture's and placeOrder's, once
    assert counts["OrderLine"] == 2
    assert counts["IdempotencyRecord"] == 2
    # 10 - 2 (the fixture's order) - 3 (placeOrder, once) + 2 (the cancelled order, once)
    assert await stock_of(conflicted.api, conflicted.product_id) == 7
    points = await conflicted.api.data(VIEWER_POINTS, token=conflicted.customer)
    assert points["viewer"]["points"] == 60  # 100 - 40, once


async def test_conflicts_on_every_attempt_are_conflict_and_write_nothing(
    conflicted: Conflicted, db
) -> None:
    before = await table_items(db)
    for mutation, send in MUTATIONS.items():
        with InjectedConflicts(conflicted.api, 1000) as injected:
            body = await send(conflicted)

        assert error_codes(body) == ["CONFLICT"], (mutation, body)
        assert body["data"] is None
        attempts = body["extensions"]["cost"]["calls"]["TransactWriteItems"]
        assert injected.injected == attempts, mutation
        assert 2 <= attempts <= 10, mutation  # retried, a bounded number of times
        assert await table_items(db) == before, mutation

    # The handler is gone: the same mutations now go through.
    for mutation, send in MUTATIONS.items():
        assert not (await send(conflicted)).get("errors"), mutation
