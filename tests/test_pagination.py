"""Relay pagination as a client walks it: exact hasNextPage, every item once, in order.

Data is arranged straight in the table; every listing is read back over HTTP,
page by page, following `pageInfo.endCursor` the way Apollo or urql would.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shopgraph.data.entities import Order, OrderStatus, status_shard
from shopgraph.data.timefmt import format_instant
from tests.conftest import Api, put_items
from tests.factories import order, product
from tests.ids import stored

SHARDS = 4  # the suite's status_shards setting
T0 = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)

PAGE = """
  edges { cursor node { %s } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
"""
ORDER_NODE = "id number status total createdAt flag { flaggedAt }"

USER_ORDERS = """
query($first: Int!, $after: String, $orderBy: OrderOrder! = NEWEST_FIRST, $placedOn: String,
      $since: DateTime, $until: DateTime) {
  viewer {
    orders(first: $first, after: $after, orderBy: $orderBy, placedOn: $placedOn,
           since: $since, until: $until) { %s }
  }
}
""" % (PAGE % ORDER_NODE)
PRODUCTS_BY_CATEGORY = """
query($first: Int!, $after: String, $category: String!) {
  productsByCategory(category: $category, first: $first, after: $after) { %s }
}
""" % (PAGE % "id category")
ORDERS_BY_STATUS = """
query($first: Int!, $after: String, $status: OrderStatus!) {
  ordersByStatus(status: $status, first: $first, after: $after) { %s }
}
""" % (PAGE % ORDER_NODE)
FLAGGED_ORDERS = """
query($first: Int!, $after: String) { flaggedOrders(first: $first, after: $after) { %s } }
""" % (PAGE % ORDER_NODE)

PATHS = {
    USER_ORDERS: ("viewer", "orders"),
    PRODUCTS_BY_CATEGORY: ("productsByCategory",),
    ORDERS_BY_STATUS: ("ordersByStatus",),
    FLAGGED_ORDERS: ("flaggedOrders",),
}


def at(base: datetime = T0, **delta: float) -> str:
    return format_instant(base + timedelta(**delta))


def connection(data: dict[str, Any], query: str) -> dict[str, Any]:
    for name in PATHS[query]:
        data = data[name]
    return data


async def page(api: Api, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    return connection(await api.data(query, variables, token), query)


async def walk(
    api: Api, query: str, *, first: int, token: str | None = None, **variables: Any
) -> list[dict[str, Any]]:
    """Every node of a listing, following endCursor until hasNextPage is false,
    checking on each page what a client relies on."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(500):
        conn = await page(api, query, token, first=first, after=after, **variables)
        edges, info = conn["edges"], conn["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        if after is not None:
            # We only came here because hasNextPage promised another item.
            assert edges, "hasNextPage was true but the next page is empty"
        if edges:
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
        else:
            assert info["startCursor"] is None and info["endCursor"] is None
        nodes += [e["node"] for e in edges]
        if not info["hasNextPage"]:
            assert len(edges) <= first
            return nodes
        assert len(edges) == first, "only the last page may be short"
        after = info["endCursor"]
    raise AssertionError("the listing never ended")


async def signed_up(api: Api, email: str) -> tuple[str, str]:
    token = await api.sign_up(email)
    user_id = (await api.data("{ viewer { id } }", token=token))["viewer"]["id"]
    return token, stored(user_id)


def numbers(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["number"] for n in nodes]


def newest_first(orders: list[Order]) -> list[str]:
    return [o.number for o in sorted(orders, key=lambda o: (o.created_at, o.number), reverse=True)]


def oldest_first(orders: list[Order]) -> list[str]:
    return [o.number for o in sorted(orders, key=lambda o: (o.created_at, o.number))]


def assert_each_once(nodes: list[dict[str, Any]], key: str = "number") -> None:
    values = [n[key] for n in nodes]
    assert len(values) == len(set(values)), "an item came back twice"


# --- arranging each listing with n items, and what a client should see -------------------

Arranged = tuple[str, dict[str, Any], str | None, list[str]]


async def arrange_user_orders(api: Api, db: Any, n: int) -> Arranged:
    token, me = await signed_up(api, "owner@example.com")
    _, other = await signed_up(api, "other@example.com")
    mine = [order(me, i, created_at=at(hours=i)) for i in range(n)]
    theirs = [order(other, i, created_at=at(hours=i)) for i in range(5)]
    await put_items(db, [o.to_item(SHARDS) for o in mine + theirs])
    return USER_ORDERS, {}, token, newest_first(mine)


async def arrange_products(api: Api, db: Any, n: int) -> Arranged:
    books = [product(i, category="books") for i in range(n)]
    music = [product(1000 + i, category="music") for i in range(5)]
    await put_items(db, [p.to_item() for p in books + music])
    # Products of a category come by product id, in string order.
    return PRODUCTS_BY_CATEGORY, {"category": "books"}, None, sorted(p.id for p in books)


async def arrange_orders_by_status(api: Api, db: Any, n: int) -> Arranged:
    admin, _ = await signed_up(api, "admin@example.com")
    _, a = await signed_up(api, "a@example.com")
    _, b = await signed_up(api, "b@example.com")
    paid = [
        order((a, b)[i % 2], i, created_at=at(minutes=7 * i), status=OrderStatus.PAID)
        for i in range(n)
    ]
    noise = [
        order(a, 100 + i, created_at=at(minutes=3 * i), status=s)
        for i, s in enumerate((OrderStatus.PENDING, OrderStatus.SHIPPED, OrderStatus.COMPLETED))
    ]
    await put_items(db, [o.to_item(SHARDS) for o in paid + noise])
    return ORDERS_BY_STATUS, {"status": "PAID"}, admin, newest_first(paid)


async def arrange_flagged(api: Api, db: Any, n: int) -> Arranged:
    admin, _ = await signed_up(api, "admin@example.com")
    _, a = await signed_up(api, "a@example.com")
    flagged = [
        Order(
            a,
            f"F{i:04d}",
            OrderStatus.PAID,
            Decimal("10.00"),
            at(hours=i),
            flag_reason="review",
            flagged_at=at(days=1, minutes=-i),
        )
        for i in range(n)
    ]
    unflagged = [order(a, 100 + i, created_at=at(hours=i, minutes=1)) for i in range(5)]
    await put_items(db, [o.to_item(SHARDS) for o in flagged + unflagged])
    expected = sorted(flagged, key=lambda o: (o.flagged_at, o.number), reverse=True)  # type: ignore[union-attr]
    return FLAGGED_ORDERS, {}, admin, [o.number for o in expected]


ARRANGE: dict[str, Callable[[Api, Any, int], Awaitable[Arranged]]] = {
    "User.orders": arrange_user_orders,
    "productsByCategory": arrange_products,
    "ordersByStatus": arrange_orders_by_status,
    "flaggedOrders": arrange_flagged,
}


def keys_of(nodes: list[dict[str, Any]], query: str) -> list[str]:
    return [stored(n["id"]) if query == PRODUCTS_BY_CATEGORY else n["number"] for n in nodes]


# --- hasNextPage is exact --------------------------------------------------------------


@pytest.mark.parametrize("listing", list(ARRANGE))
@pytest.mark.parametrize(("count", "more"), [(20, False), (21, True)])
async def test_has_next_page_is_true_only_when_another_item_exists(
    api: Api, db: Any, listing: str, count: int, more: bool
) -> None:
    query, variables, token, expected = await ARRANGE[listing](api, db, count)

    conn = await page(api, query, token, first=20, **variables)

    assert keys_of([e["node"] for e in conn["edges"]], query) == expected[:20]
    assert conn["pageInfo"]["hasNextPage"] is more
    assert conn["pageInfo"]["hasPreviousPage"] is False
    if more:
        after = conn["pageInfo"]["endCursor"]
        rest = await page(api, query, token, first=20, after=after, **variables)
        assert keys_of([e["node"] for e in rest["edges"]], query) == expected[20:]
        assert rest["pageInfo"]["hasNextPage"] is False
        assert rest["pageInfo"]["hasPreviousPage"] is True


async def test_twenty_orders_fill_the_default_page_with_nothing_after(api: Api, db: Any) -> None:
    token, me = await signed_up(api, "owner@example.com")
    await put_items(db, [order(me, i).to_item(SHARDS) for i in range(20)])
    query = "{ viewer { orders { nodes { number } pageInfo { hasNextPage endCursor } } } }"

    orders = (await api.data(query, token=token))["viewer"]["orders"]
    assert len(orders["nodes"]) == 20
    assert orders["pageInfo"]["hasNextPage"] is False

    await put_items(db, [order(me, 20).to_item(SHARDS)])
    orders = (await api.data(query, token=token))["viewer"]["orders"]
    assert len(orders["nodes"]) == 20
    assert orders["pageInfo"]["hasNextPage"] is True


async def test_an_empty_listing_is_one_empty_page(api: Api, db: Any) -> None:
    token, _ = await signed_up(api, "owner@example.com")
    conn = await page(api, USER_ORDERS, token, first=5)
    assert conn["edges"] == []
    assert conn["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


# --- walking every page of every listing -----------------------------------------------


@pytest.mark.parametrize("first", [1, 3, 7])
async def test_user_orders_walk_in_each_order_by(api: Api, db: Any, first: int) -> None:
    token, me = await signed_up(api, "owner@example.com")
    _, other = await signed_up(api, "other@example.com")
    rng = random.Random(first)
    # Totals chosen so that string order, creation order and numeric order all differ.
    totals = ["9.99", "25", "100", "0.50", "1000", "250.10", "3", "19.99", "7.25", "99.99"]
    totals += [f"{rng.randint(1, 5000)}.{n:02d}" for n in range(13)]
    rng.shuffle(totals)
    mine = [order(me, i, created_at=at(hours=5 * i), total=t) for i, t in enumerate(totals)]
    # Two orders placed in the same millisecond: the order number breaks the tie.
    mine.append(order(me, 99, created_at=mine[4].created_at, total="4321.00"))
    theirs = [order(other, i, created_at=at(hours=5 * i, minutes=1)) for i in range(6)]
    await put_items(db, [o.to_item(SHARDS) for o in mine + theirs])

    by_total = sorted(mine, key=lambda o: o.total)
    expected = {
        "NEWEST_FIRST": newest_first(mine),
        "OLDEST_FIRST": oldest_first(mine),
        "SMALLEST_TOTAL_FIRST": [o.number for o in by_total],
        "LARGEST_TOTAL_FIRST": [o.number for o in reversed(by_total)],
    }
    for order_by, want in expected.items():
        nodes = await walk(api, USER_ORDERS, first=first, token=token, orderBy=order_by)
        assert numbers(nodes) == want, order_by
    # What a client shows: totals as exact decimals in the order asked.
    nodes = await walk(api, USER_ORDERS, first=first, token=token, orderBy="SMALLEST_TOTAL_FIRST")
    shown = [Decimal(n["total"]) for n in nodes]
    assert shown == sorted(shown) and len(shown) == 24


@pytest.mark.parametrize("first", [2, 3])
async def test_orders_with_equal_totals_are_each_listed_once(api: Api, db: Any, first: int) -> None:
    token, me = await signed_up(api, "owner@example.com")
    totals = ["10.00"] * 7 + ["5.00"] * 3 + ["20.00"] * 4
    mine = [order(me, i, created_at=at(hours=i), total=t) for i, t in enumerate(totals)]
    await put_items(db, [o.to_item(SHARDS) for o in mine])

    for order_by, descending in (("SMALLEST_TOTAL_FIRST", False), ("LARGEST_TOTAL_FIRST", True)):
        nodes = await walk(api, USER_ORDERS, first=first, token=token, orderBy=order_by)
        assert_each_once(nodes)
        assert sorted(numbers(nodes)) == sorted(o.number for o in mine)
        shown = [Decimal(n["total"]) for n in nodes]
        assert shown == sorted(shown, reverse=descending)


@pytest.mark.parametrize("first", [3, 7])
async def test_products_by_category_walk(api: Api, db: Any, first: int) -> None:
    books = [product(i, category="books") for i in range(23)]
    music = [product(100 + i, category="music") for i in range(4)]
    await put_items(db, [p.to_item() for p in books + music])

    nodes = await walk(api, PRODUCTS_BY_CATEGORY, first=first, category="books")

    assert_each_once(nodes, "id")
    assert [stored(n["id"]) for n in nodes] == sorted(p.id for p in books)
    assert {n["category"] for n in nodes} == {"books"}
    music_nodes = await walk(api, PRODUCTS_BY_CATEGORY, first=first, category="music")
    assert [stored(n["id"]) for n in music_nodes] == sorted(p.id for p in music)


@pytest.mark.parametrize("first", [1, 3, 7])
async def test_orders_by_status_walk_merges_every_shard_newest_first(
    api: Api, db: Any, first: int
) -> None:
    admin, _ = await signed_up(api, "admin@example.com")
    _, a = await signed_up(api, "a@example.com")
    _, b = await signed_up(api, "b@example.com")
    paid = [
        order((a, b)[i % 2], i, created_at=at(minutes=37 * i), status=OrderStatus.PAID)
        for i in range(22)
    ]
    # Orders of one instant on several shards, and a burst at the newest end.
    same_instant = at(hours=3)
    paid += [order(a, 50 + i, created_at=same_instant, status=OrderStatus.PAID) for i in range(4)]
    paid += [order(b, 60 + i, created_at=at(days=30), status=OrderStatus.PAID) for i in range(3)]
    assert {status_shard(o.number, SHARDS) for o in paid} == set(range(SHARDS))
    others = [
        order(a, 200 + i, created_at=at(minutes=37 * i + 1), status=status)
        for i, status in enumerate(
            [OrderStatus.PENDING, OrderStatus.SHIPPED, OrderStatus.COMPLETED] * 3
        )
    ]
    await put_items(db, [o.to_item(SHARDS) for o in paid + others])

    nodes = await walk(api, ORDERS_BY_STATUS, first=first, token=admin, status="PAID")

    assert_each_once(nodes)
    assert numbers(nodes) == newest_first(paid)
    assert {n["status"] for n in nodes} == {"PAID"}
    created = [n["createdAt"] for n in nodes]
    assert created == sorted(created, reverse=True)
    pending = await walk(api, ORDERS_BY_STATUS, first=first, token=admin, status="PENDING")
    assert numbers(pending) == newest_first([o for o in others if o.status is OrderStatus.PENDING])


@pytest.mark.parametrize("first", [3, 7])
async def test_flagged_orders_walk_most_recently_flagged_first(
    api: Api, db: Any, first: int
) -> None:
    admin, _ = await signed_up(api, "admin@example.com")
    _, a = await signed_up(api, "a@example.com")
    rng = random.Random(7)
    base = [order(a, i, created_at=at(hours=i)) for i in range(30)]
    flag_minutes = rng.sample(range(1000), 17)
    flagged = [
        Order(
            o.user_id,
            o.number,
            o.status,
            o.total,
            o.created_at,
            flag_reason="payment review",
            flagged_at=at(days=2, minutes=m),
        )
        for o, m in zip(base[::2] + base[1:4:2], flag_minutes, strict=False)
    ]
    flagged_numbers = {o.number for o in flagged}
    plain = [o for o in base if o.number not in flagged_numbers]
    await put_items(db, [o.to_item(SHARDS) for o in flagged + plain])

    nodes = await walk(api, FLAGGED_ORDERS, first=first, token=admin)

    expected = sorted(flagged, key=lambda o: o.flagged_at, reverse=True)  # type: ignore[union-attr]
    assert_each_once(nodes)
    assert numbers(nodes) == [o.number for o in expected]
    assert [n["flag"]["flaggedAt"] for n in nodes] == [o.flagged_at for o in expected]  # type: ignore[union-attr]


# --- DynamoDB's own 1 MB pages -----------------------------------------------------------


def padded(item: dict[str, Any], size: int) -> dict[str, Any]:
    return {**item, "padding": "x" * size}


@pytest.mark.parametrize("listing", ["User.orders", "productsByCategory", "ordersByStatus"])
async def test_has_next_page_stays_exact_when_dynamodb_cuts_a_page_at_1_mb(
    api: Api, db: Any, listing: str
) -> None:
    if listing == "productsByCategory":
        # Three such products fill a 1 MB Query page.
        per_page, query, variables, token = 3, PRODUCTS_BY_CATEGORY, {"category": "big"}, None
        big = [product(i, category="big") for i in range(8)]
        await put_items(db, [padded(p.to_item(), 300_000) for p in big])
        expected = sorted(p.id for p in big)
    else:
        # An order's 400 KB include its copy in the LSI: five such orders fill a page.
        per_page = 5
        token, me = await signed_up(api, "admin@example.com")
        # Every order on one status shard, so that one shard's Query is cut short.
        candidates = [f"B{n:04d}" for n in range(200)]
        one_shard = [n for n in candidates if status_shard(n, SHARDS) == 0][:12]
        big_orders = [
            Order(me, n, OrderStatus.PAID, Decimal("10.00"), at(hours=i))
            for i, n in enumerate(one_shard)
        ]
        await put_items(db, [padded(o.to_item(SHARDS), 190_000) for o in big_orders])
        expected = newest_first(big_orders)
        if listing == "User.orders":
            query, variables = USER_ORDERS, {}
        else:
            query, variables = ORDERS_BY_STATUS, {"status": "PAID"}

    # Engines cut a page just below 1 MB (moto) or just past it (DynamoDB): with
    # first = per_page or per_page + 1, the first Query stops right after `first` items.
    for first in (per_page, per_page + 1, 2):
        nodes = await walk(api, query, first=first, token=token, **variables)
        assert keys_of(nodes, query) == expected
        # A page that DynamoDB cut right after `first` items still knows that more follow.
        conn = await page(api, query, token, first=first, **variables)
        assert len(conn["edges"]) == first and conn["pageInfo"]["hasNextPage"] is True


# --- totals sort as numbers -----------------------------------------------------------


async def test_totals_sort_numerically_not_as_strings(api: Api, db: Any) -> None:
    token, me = await signed_up(api, "owner@example.com")
    # Placed 25, then 100, then 9.99: neither creation order nor string order is numeric.
    totals = ["25", "100", "9.99"]
    placed = [order(me, i, created_at=at(hours=i), total=t) for i, t in enumerate(totals)]
    await put_items(db, [o.to_item(SHARDS) for o in placed])

    for first in (1, 2, 3):
        smallest = await walk(
            api, USER_ORDERS, first=first, token=token, orderBy="SMALLEST_TOTAL_FIRST"
        )
        assert [n["total"] for n in smallest] == ["9.99", "25.00", "100.00"]
        largest = await walk(
            api, USER_ORDERS, first=first, token=token, orderBy="LARGEST_TOTAL_FIRST"
        )
        assert [n["total"] for n in largest] == ["100.00", "25.00", "9.99"]
    newest = await walk(api, USER_ORDERS, first=3, token=token, orderBy="NEWEST_FIRST")
    assert [n["total"] for n in newest] == ["9.99", "100.00", "25.00"]


# --- placedOn, since and until ---------------------------------------------------------

BOUNDARY_INSTANTS = [
    "2025-12-31T23:59:59.999Z",
    "2026-01-01T00:00:00.000Z",
    "2026-02-28T23:59:59.999Z",
    "2026-03-01T00:00:00.000Z",
    "2026-03-14T23:59:59.999Z",
    "2026-03-15T00:00:00.000Z",
    "2026-03-15T12:30:00.000Z",
    "2026-03-15T23:59:59.999Z",
    "2026-03-16T00:00:00.000Z",
    "2026-03-31T23:59:59.999Z",
    "2026-04-01T00:00:00.000Z",
    "2026-12-31T23:59:59.999Z",
    "2027-01-01T00:00:00.000Z",
]


def placed_on(instant: str, prefix: str) -> bool:
    """Whether an instant lies in the UTC year, month or day `prefix` (by calendar fields)."""
    when = datetime.strptime(instant, "%Y-%m-%dT%H:%M:%S.%fZ")
    fields = [int(p) for p in prefix.split("-")]
    return [when.year, when.month, when.day][: len(fields)] == fields


@pytest.mark.parametrize(
    ("prefix", "count"),
    [
        ("2026", 11),
        ("2025", 1),
        ("2027", 1),
        ("2024", 0),
        ("2026-03", 7),
        ("2026-04", 1),
        ("2026-02", 1),
        ("2026-01", 1),
        ("2026-12", 1),
        ("2026-05", 0),
        ("2026-03-15", 3),
        ("2026-03-31", 1),
        ("2026-03-14", 1),
        ("2026-03-16", 1),
        ("2026-04-01", 1),
        ("2026-03-17", 0),
    ],
)
async def test_placed_on_picks_exactly_that_year_month_or_day(
    api: Api, db: Any, prefix: str, count: int
) -> None:
    token, me = await signed_up(api, "owner@example.com")
    mine = [order(me, i, created_at=t) for i, t in enumerate(BOUNDARY_INSTANTS)]
    await put_items(db, [o.to_item(SHARDS) for o in mine])
    picked = [o for o in mine if placed_on(o.created_at, prefix)]
    assert len(picked) == count  # the arrangement itself

    for first in (2, 20):
        newest = await walk(api, USER_ORDERS, first=first, token=token, placedOn=prefix)
        assert numbers(newest) == newest_first(picked)
        oldest = await walk(
            api, USER_ORDERS, first=first, token=token, placedOn=prefix, orderBy="OLDEST_FIRST"
        )
        assert numbers(oldest) == oldest_first(picked)


async def test_the_last_millisecond_of_march_is_in_march_not_april(api: Api, db: Any) -> None:
    token, me = await signed_up(api, "owner@example.com")
    last = order(me, 1, created_at="2026-03-31T23:59:59.999Z")
    first = order(me, 2, created_at="2026-04-01T00:00:00.000Z")
    await put_items(db, [last.to_item(SHARDS), first.to_item(SHARDS)])

    async def on(prefix: str) -> list[str]:
        return numbers(await walk(api, USER_ORDERS, first=5, token=token, placedOn=prefix))

    assert await on("2026-03") == [last.number]
    assert await on("2026-04") == [first.number]
    assert await on("2026-03-31") == [last.number]
    assert await on("2026-04-01") == [first.number]
    assert await on("2026") == [first.number, last.number]


async def test_since_and_until_are_inclusive_and_page(api: Api, db: Any) -> None:
    token, me = await signed_up(api, "owner@example.com")
    instants = [at(hours=i) for i in range(12)]
    # Neighbours one millisecond either side of the bounds.
    instants += [at(hours=2, milliseconds=-1), at(hours=9, milliseconds=1)]
    mine = [order(me, i, created_at=t) for i, t in enumerate(instants)]
    await put_items(db, [o.to_item(SHARDS) for o in mine])
    since, until = at(hours=2), at(hours=9)
    inside = [o for o in mine if since <= o.created_at <= until]
    assert len(inside) == 8
    assert any(o.created_at == since for o in inside) and any(o.created_at == until for o in inside)

    for first in (1, 3, 20):
        for order_by, want in (("NEWEST_FIRST", newest_first), ("OLDEST_FIRST", oldest_first)):
            both = await walk(
                api,
                USER_ORDERS,
                first=first,
                token=token,
                orderBy=order_by,
                since=since,
                until=until,
            )
            assert numbers(both) == want(inside), (first, order_by)
        from_since = await walk(api, USER_ORDERS, first=first, token=token, since=since)
        assert numbers(from_since) == newest_first([o for o in mine if o.created_at >= since])
        to_until = await walk(api, USER_ORDERS, first=first, token=token, until=until)
        assert numbers(to_until) == newest_first([o for o in mine if o.created_at <= until])

    exactly = await walk(api, USER_ORDERS, first=5, token=token, since=since, until=since)
    assert numbers(exactly) == [o.number for o in mine if o.created_at == since]
    # The same instant written with an offset is the same bound.
    shifted = "2026-03-15T14:00:00.000+02:00"
    assert since == "2026-03-15T12:00:00.000Z"
    same = await walk(api, USER_ORDERS, first=3, token=token, since=shifted, until=until)
    assert numbers(same) == newest_first(inside)


async def test_placed_on_with_since_and_until_narrow_together(api: Api, db: Any) -> None:
    token, me = await signed_up(api, "owner@example.com")
    mine = [order(me, i, created_at=t) for i, t in enumerate(BOUNDARY_INSTANTS)]
    await put_items(db, [o.to_item(SHARDS) for o in mine])
    since, until = "2026-03-15T00:00:00.000Z", "2026-04-01T00:00:00.000Z"

    nodes = await walk(
        api, USER_ORDERS, first=2, token=token, placedOn="2026-03", since=since, until=until
    )

    want = [o for o in mine if o.created_at.startswith("2026-03") and since <= o.created_at]
    assert numbers(nodes) == newest_first(want)
    assert len(want) == 5
