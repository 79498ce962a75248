"""A deterministic demo dataset, written with BatchWriteItem.

The same options give the same users, products, orders and counters; instants
are laid out over the year before `anchor` (today by default).
"""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from shopgraph.data.codec import Item, to_attributes
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import (
    EmailGuard,
    Order,
    OrderFlag,
    OrderLine,
    OrderStatus,
    Product,
    Role,
    SalesStats,
    User,
    ViewCounter,
)
from shopgraph.data.timefmt import format_instant
from shopgraph.security import hash_password_sync
from shopgraph.settings import Settings

CATEGORIES = ("books", "music", "garden", "kitchen", "toys", "outdoor", "office", "games")
_ADJECTIVES = ("Quiet", "Bright", "Sturdy", "Tiny", "Grand", "Swift", "Cosy", "Bold", "Clever")
_NOUNS = ("Lamp", "Kettle", "Notebook", "Rake", "Puzzle", "Tent", "Chair", "Speaker", "Mug")
_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Frances")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Allen")
_FLAG_REASONS = ("address mismatch", "unusually large order", "payment review", "customer request")
_STATUS_WEIGHTS = {
    OrderStatus.COMPLETED: 50,
    OrderStatus.SHIPPED: 12,
    OrderStatus.PAID: 12,
    OrderStatus.PENDING: 14,
    OrderStatus.CANCELLED: 12,
}
ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class SeedOptions:
    customers: int = 50
    products: int = 200
    orders_per_customer: int = 10
    seed: int = 7
    anchor: datetime | None = None
    password: str = "shopgraph-demo"
    status_shards: int = 4
    view_shards: int = 4

    @classmethod
    def for_settings(cls, settings: Settings, **sizes: Any) -> SeedOptions:
        """Options whose password and shard counts are the ones the server will use."""
        return cls(
            password=settings.demo_password,
            status_shards=settings.status_shards,
            view_shards=settings.view_shards,
            **sizes,
        )


def customer_email(n: int) -> str:
    return f"customer{n}@example.com"


def _instant(anchor: datetime, rng: random.Random) -> str:
    return format_instant(
        anchor - timedelta(seconds=rng.randrange(365 * 86400), milliseconds=rng.randrange(1000))
    )


def demo_items(options: SeedOptions) -> Iterator[Item]:
    rng = random.Random(options.seed)
    anchor = options.anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Every demo account has the same public password: one hash serves them all.
    password_hash = hash_password_sync(options.password)
    joined = format_instant(anchor - timedelta(days=400))

    products: list[Product] = []
    for n in range(1, options.products + 1):
        tracks_stock = rng.random() < 0.5
        product = Product(
            id=f"p{n:05d}",
            name=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {n}",
            description=f"Demo product number {n}." if rng.random() < 0.8 else None,
            category=CATEGORIES[n % len(CATEGORIES)],
            price=Decimal(rng.randrange(99, 20000)) / 100,
            stock=rng.randrange(0, 500) if tracks_stock else None,
            created_at=_instant(anchor, rng),
        )
        products.append(product)
        yield product.to_item()
        for shard in range(options.view_shards):
            if rng.random() < 0.4:
                yield ViewCounter(product.id, shard, rng.randrange(1, 50)).to_item()

    admin = User("admin", "Admin", ADMIN_EMAIL, Role.ADMIN, 0, joined, password_hash)
    yield admin.to_item()
    yield EmailGuard(admin.email, admin.id).to_item()

    alphabet = string.ascii_uppercase + string.digits
    # The import counts its own completed orders into salesStats (the stream
    # leaves imported orders alone), instead of a transaction per order later.
    sales: dict[str, SalesStats] = {}
    for c in range(1, options.customers + 1):
        user_id = f"customer{c}"
        points = 0
        for _ in range(options.orders_per_customer):
            number = "".join(rng.choices(alphabet, k=10))
            created_at = _instant(anchor, rng)
            status = rng.choices(list(_STATUS_WEIGHTS), weights=list(_STATUS_WEIGHTS.values()))[0]
            chosen = (
                rng.sample(products, k=min(len(products), rng.randint(1, 5))) if products else []
            )
            lines = [OrderLine(number, p.id, rng.randint(1, 3), p.price) for p in chosen]
            total = sum((line.line_total for line in lines), Decimal("0"))
            flag = None
            if rng.random() < 0.05:
                flag = OrderFlag(rng.choice(_FLAG_REASONS), created_at)
            order = Order(
                user_id,
                number,
                status,
                total,
                created_at,
                created_at,
                imported=True,
                lines=tuple(sorted(lines, key=lambda line: line.product_id)),
            ).flagged(flag)
            if status is OrderStatus.COMPLETED:
                points += int(total)
                day = created_at[:10]
                counted = sales.get(day, SalesStats(day, 0, Decimal("0")))
                sales[day] = SalesStats(
                    day, counted.completed_orders + 1, counted.revenue + order.total
                )
            yield order.to_item(options.status_shards)
            for line in lines:
                yield line.to_item()
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        email = customer_email(c)
        yield User(user_id, name, email, Role.CUSTOMER, points, joined, password_hash).to_item()
        yield EmailGuard(email, user_id).to_item()
    for stats in sales.values():
        yield stats.to_item()


def count_items(options: SeedOptions) -> int:
    return sum(1 for _ in demo_items(options))


async def write_items(
    db: Dynamo,
    items: Iterator[Item],
    *,
    total: int | None = None,
    concurrency: int = 8,
    progress: bool = True,
) -> int:
    """Writes items 25 to a BatchWriteItem call, `concurrency` calls at once."""
    queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=concurrency * 2)
    bar = tqdm(total=total, unit="item", desc="seeding", disable=not progress)
    written = 0

    async def worker() -> None:
        nonlocal written
        while (batch := await queue.get()) is not None:
            await db.batch_write(batch)
            written += len(batch)
            bar.update(len(batch))

    async def produce() -> None:
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": to_attributes(item)}})
            if len(batch) == 25:
                await queue.put(batch)
                batch = []
        if batch:
            await queue.put(batch)
        for _ in range(concurrency):
            await queue.put(None)

    try:
        # A failing worker cancels the others and the producer.
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(concurrency):
                group.create_task(worker())
    finally:
        bar.close()
    return written


async def seed(db: Dynamo, options: SeedOptions, *, progress: bool = True) -> int:
    total = count_items(options) if progress else None
    return await write_items(db, demo_items(options), total=total, progress=progress)
