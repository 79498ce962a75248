"""The demo dataset: deterministic, and covering what the demo shows."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from shopgraph.data.dynamo import Dynamo
from shopgraph.data.seed import CATEGORIES, SeedOptions, seed
from shopgraph.data.table import ensure_table
from tests.conftest import Api, table_items

OPTIONS = SeedOptions(
    customers=6, products=24, orders_per_customer=12, anchor=datetime(2026, 6, 1, tzinfo=UTC)
)


def _comparable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Password hashes are salted afresh on every run; everything else repeats.
    return [{k: v for k, v in i.items() if k != "passwordHash"} for i in items]


async def test_seeding_is_deterministic_and_complete(dynamo_client: Any, db: Dynamo) -> None:
    written = await seed(db, OPTIONS, progress=False)
    other = Dynamo(dynamo_client, f"seed-{uuid.uuid4().hex[:8]}")
    await ensure_table(dynamo_client, other.table_name)
    try:
        await seed(other, OPTIONS, progress=False)
        first, second = await table_items(db), await table_items(other)
    finally:
        await dynamo_client.delete_table(TableName=other.table_name)

    assert len(first) == written
    assert _comparable(first) == _comparable(second)
    kinds = Counter(i["entityType"] for i in first)
    assert kinds["User"] == 7  # the admin and six customers
    assert kinds["EmailGuard"] == 7
    assert kinds["Product"] == 24
    assert kinds["Order"] == 72
    assert kinds["ViewCounter"] > 0
    orders = [i for i in first if i["entityType"] == "Order"]
    assert {o["status"] for o in orders} == {"PENDING", "PAID", "SHIPPED", "COMPLETED", "CANCELLED"}
    lines = Counter(i["orderNumber"] for i in first if i["entityType"] == "OrderLine")
    assert set(lines.values()) <= {1, 2, 3, 4, 5}
    assert {p["category"] for p in first if p["entityType"] == "Product"} == set(CATEGORIES)
    stocks = [p.get("stock") for p in first if p["entityType"] == "Product"]
    assert any(s is None for s in stocks) and any(s is not None for s in stocks)


async def test_demo_accounts_sign_in(api: Api, db: Dynamo) -> None:
    await seed(db, OPTIONS, progress=False)
    admin = await api.log_in("admin@example.com", "shopgraph-demo")
    customer = await api.log_in("customer1@example.com", "shopgraph-demo")
    me = await api.data("{ viewer { role orders(first: 100) { nodes { id } } } }", token=customer)
    assert me["viewer"]["role"] == "CUSTOMER"
    assert len(me["viewer"]["orders"]["nodes"]) == 12
    flagged = await api.data(
        "{ flaggedOrders(first: 100) { nodes { flag { reason } } } }", token=admin
    )
    assert all(n["flag"]["reason"] for n in flagged["flaggedOrders"]["nodes"])


async def test_seeded_sales_are_in_sales_stats_at_once(api: Api, db: Dynamo) -> None:
    # No stream consumer runs here: the seed counts its own completed orders.
    await seed(db, OPTIONS, progress=False)
    orders = [i for i in await table_items(db) if i["entityType"] == "Order"]
    completed = [o for o in orders if o["status"] == "COMPLETED"]
    admin = await api.log_in("admin@example.com", "shopgraph-demo")

    days = sorted({o["createdAt"][:10] for o in completed})
    assert len(days) > 5
    for day in days:
        expected = [o for o in completed if o["createdAt"][:10] == day]
        stats = await api.data(
            "query($d: String!) { salesStats(day: $d) { completedOrders revenue } }",
            {"d": day},
            token=admin,
        )
        assert stats["salesStats"] == {
            "completedOrders": len(expected),
            "revenue": f"{sum(o['total'] for o in expected):.2f}",
        }
