"""The table's stream: salesStats applied exactly once, across restarts."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shopgraph.data import entities
from shopgraph.data.codec import key_attributes, to_attributes
from shopgraph.data.dynamo import Dynamo, open_client
from shopgraph.data.entities import Order
from shopgraph.data.seed import SeedOptions, seed
from shopgraph.settings import Settings
from shopgraph.stream.broker import Broker
from shopgraph.stream.consumer import StreamConsumer
from shopgraph.stream.local_feed import LocalFeed
from shopgraph.stream.records import status_change
from shopgraph.stream.sales import CONSUMER, apply_completion
from tests.conftest import Api, table_items
from tests.test_index_keys import mismatches

PLACE = (
    "mutation($p: ID!) { placeOrder(input: {items: [{productId: $p, quantity: 1}]}) { id total } }"
)
MOVE = (
    "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { updatedAt } }"
)
STATS = "query($d: String!) { salesStats(day: $d) { completedOrders revenue } }"


async def _shop(api: Api) -> tuple[str, str]:
    admin = await api.sign_up("admin@example.com")
    customer = await api.sign_up("buyer@example.com")
    await api.data(
        'mutation { createProduct(input: {id: "kettle", name: "Kettle", category: "kitchen", '
        'price: "12.34"}) { id } }',
        token=admin,
    )
    return admin, customer


async def _complete_orders(api: Api, admin: str, customer: str, count: int) -> tuple[str, Decimal]:
    revenue = Decimal("0")
    day = ""
    for _ in range(count):
        order = (await api.data(PLACE, {"p": "kettle"}, token=customer))["placeOrder"]
        revenue += Decimal(order["total"])
        for status in ("PAID", "SHIPPED", "COMPLETED"):
            moved = await api.data(MOVE, {"id": order["id"], "s": status}, token=admin)
        day = moved["updateOrderStatus"]["updatedAt"][:10]
    return day, revenue


async def _stats_reach(api: Api, admin: str, day: str, count: int, within: float = 30) -> dict:
    deadline = time.monotonic() + within
    while True:
        stats = (await api.data(STATS, {"d": day}, token=admin))["salesStats"]
        if stats["completedOrders"] >= count or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.2)


async def test_completed_orders_are_counted_into_their_day(start_api: Any) -> None:
    api = await start_api(admin_emails=frozenset({"admin@example.com"}), stream_consumer=True)
    admin, customer = await _shop(api)
    day, revenue = await _complete_orders(api, admin, customer, 3)
    stats = await _stats_reach(api, admin, day, 3)
    assert stats == {"completedOrders": 3, "revenue": str(revenue)}
    # Nothing more arrives later: each completion counted once.
    await asyncio.sleep(1.5)
    assert (await api.data(STATS, {"d": day}, token=admin))["salesStats"]["completedOrders"] == 3


async def _caught_up(api: Api, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stream = (await (await api.http.get("/readyz")).json())["stream"]
        if stream["lagSeconds"] == 0:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the stream consumer did not catch up in {within} s: {stream}")


async def test_readyz_shows_no_lag_once_the_consumer_has_caught_up(start_api: Any) -> None:
    api = await start_api(admin_emails=frozenset({"admin@example.com"}), stream_consumer=True)
    admin, customer = await _shop(api)
    day, _ = await _complete_orders(api, admin, customer, 1)
    await _stats_reach(api, admin, day, 1)

    # Nothing is written for a while: the consumer is at the tip, not falling behind.
    await asyncio.sleep(5)
    stream = (await (await api.http.get("/readyz")).json())["stream"]

    assert stream["shards"] >= 1
    assert stream["lagSeconds"] is not None
    assert stream["lagSeconds"] < 1.0


async def test_fifty_completions_across_a_restart_count_exactly_fifty(start_api: Any) -> None:
    admins = frozenset({"admin@example.com"})
    first = await start_api(admin_emails=admins, stream_consumer=True)
    admin, customer = await _shop(first)
    day, revenue_a = await _complete_orders(first, admin, customer, 25)
    await _stats_reach(first, admin, day, 25)
    await first.http.close()  # the consumer stops; its checkpoint stays in the table

    second = await start_api(admin_emails=admins, stream_consumer=True)
    _, revenue_b = await _complete_orders(second, admin, customer, 25)
    stats = await _stats_reach(second, admin, day, 50)
    await asyncio.sleep(1.5)
    stats = (await second.data(STATS, {"d": day}, token=admin))["salesStats"]
    assert stats == {"completedOrders": 50, "revenue": str(revenue_a + revenue_b)}


async def test_a_record_applied_but_not_checkpointed_counts_once(
    start_api: Any, base_settings: Settings, db: Dynamo
) -> None:
    api = await start_api(admin_emails=frozenset({"admin@example.com"}))  # no consumer here
    admin, customer = await _shop(api)
    day, revenue = await _complete_orders(api, admin, customer, 2)

    applied: list[str] = []

    async def apply(record: dict[str, Any], shard_id: str) -> None:
        change = status_change(record, shard_id)
        if change and await apply_completion(db, change):
            applied.append(change.event_id)

    async with open_client(base_settings, service="dynamodbstreams") as streams:
        for _ in range(2):
            # Each run starts where no checkpoint says otherwise: the second run
            # reads every record again, as after a crash between applying and
            # checkpointing.
            consumer = StreamConsumer(db, streams, CONSUMER, apply, idle_poll=0.1)
            task = asyncio.create_task(consumer.run())
            deadline = time.monotonic() + 20
            while len(applied) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110 - polling the engine
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)
            await consumer.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for shard_id in consumer.shards:
                await db.call(
                    "DeleteItem",
                    TableName=db.table_name,
                    Key=key_attributes(
                        entities.STREAM_CHECKPOINT.key(consumer=CONSUMER, shard_id=shard_id)
                    ),
                )

    assert len(applied) == 2
    stats = (await api.data(STATS, {"d": day}, token=admin))["salesStats"]
    assert stats == {"completedOrders": 2, "revenue": str(revenue)}


async def test_imported_history_is_not_counted_again_but_its_later_completions_are(
    start_api: Any, db: Dynamo
) -> None:
    options = SeedOptions(
        customers=4, products=10, orders_per_customer=10, anchor=datetime(2026, 1, 1, tzinfo=UTC)
    )
    await seed(db, options, progress=False)
    seeded = await table_items(db)
    seeded_stats = {i["day"]: i for i in seeded if i["entityType"] == "SalesStats"}
    shipped = Order.from_item(next(i for i in seeded if i.get("status") == "SHIPPED"))

    api = await start_api(admin_emails=frozenset({"admin@example.com"}), stream_consumer=True)
    admin = await api.log_in("admin@example.com", "shopgraph-demo")
    moved = await api.data(MOVE, {"id": shipped.id, "s": "COMPLETED"}, token=admin)
    today = moved["updateOrderStatus"]["updatedAt"][:10]
    assert (await _stats_reach(api, admin, today, 1)) == {
        "completedOrders": 1,
        "revenue": f"{shipped.total:.2f}",
    }
    await _caught_up(api)

    after = await table_items(db)
    # The seeded days are as the seed wrote them, and the one live completion
    # is the only one the consumer applied.
    assert {
        i["day"]: i for i in after if i["entityType"] == "SalesStats" and i["day"] != today
    } == seeded_stats
    assert sum(1 for i in after if i["entityType"] == entities.APPLIED_EVENT.name) == 1
    # The consumer's own items (checkpoints, markers, stats) follow their declarations.
    assert {"StreamCheckpoint", "AppliedEvent", "SalesStats"} <= {i["entityType"] for i in after}
    assert not mismatches(after)


def _placed_order_record(n: int) -> dict[str, Any]:
    """The stream record of a placed order with three lines, as DynamoDB sends it."""
    number = f"N{n:09d}"
    order = Order(
        user_id=f"customer{n % 30}",
        number=number,
        status=entities.OrderStatus.PENDING,
        total=Decimal("75.00"),
        created_at="2026-12-05T18:00:00.000Z",
        lines=tuple(entities.OrderLine(number, f"p{k:05d}", 2, Decimal("12.50")) for k in range(3)),
    )
    image = to_attributes(order.to_item(status_shards=4))
    return {"eventID": f"event-{n}", "dynamodb": {"NewImage": image, "SequenceNumber": str(n)}}


def test_the_replay_history_keeps_each_change_small() -> None:
    """serve keeps the last SHOPGRAPH_SUBSCRIPTION_REPLAY changes (10,000 by
    default) for subscribers that resume: each costs memory while it is kept,
    so it keeps the order, not the record's raw image as well (about 6 KB)."""
    changes = 2_000
    feed = LocalFeed(Broker(), keep=changes)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(changes):
            change = status_change(_placed_order_record(n), "shard-1")
            assert change is not None
            feed.publish(change)
        per_change = (tracemalloc.get_traced_memory()[0] - before) / changes
    finally:
        tracemalloc.stop()
    assert per_change < 3_000, f"{per_change:.0f} bytes kept per change"
