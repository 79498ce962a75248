"""Entities for tests to arrange, written straight to the table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shopgraph.data.codec import Item
from shopgraph.data.entities import Order, OrderLine, OrderStatus, Product
from shopgraph.data.timefmt import format_instant
from tests.ids import stored

BASE_TIME = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


def instant(days: float = 0, base: datetime = BASE_TIME) -> str:
    return format_instant(base + timedelta(days=days))


def product(
    n: int, category: str = "books", price: str = "10.00", stock: int | None = None
) -> Product:
    return Product(
        id=f"prod-{n}",
        name=f"Product {n}",
        description=None,
        category=category,
        price=Decimal(price),
        stock=stock,
        created_at=instant(),
    )


def order(
    user_id: str,
    n: int,
    *,
    created_at: str | None = None,
    total: str = "10.00",
    status: OrderStatus = OrderStatus.PENDING,
) -> Order:
    return Order(
        user_id=stored(user_id),  # the API's global id or a stored one
        number=f"N{n:04d}{uuid.uuid4().hex[:8].upper()}",
        status=status,
        total=Decimal(total),
        created_at=created_at or instant(days=n),
    )


def order_with_lines(
    order_: Order, products: list[Product], quantity: int = 1, shards: int = 4
) -> list[Item]:
    lines = [OrderLine(order_.number, p.id, quantity, p.price) for p in products]
    return [order_.to_item(shards), *(line.to_item() for line in lines)]
