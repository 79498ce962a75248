"""Per-request dataloaders: keys asked in one tick go out as one batch.

Entities by key go through BatchGetItem (100 keys a call, concurrent chunks);
a page's view counts are one BatchGetItem of every shard; per-parent
listings (a user's orders, an old order's lines) run their single-partition
Queries concurrently.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiodataloader import DataLoader

from shopgraph.data import entities, orders, products
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Order, OrderLine, Product, User
from shopgraph.data.paging import CursorCodec, Page

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _by_key(
    db: Dynamo,
    key_of: Callable[[K], dict[str, str]],
    entity_of: Callable[[Item], V],
) -> DataLoader[K, V | None]:
    def entity_or_error(item: Item) -> V | Exception:
        # An item that cannot be read fails its own key, not the whole batch.
        try:
            return entity_of(item)
        except Exception as exc:
            return exc

    async def load(ids: Sequence[K]) -> list[V | Exception | None]:
        items = await db.batch_get([key_of(i) for i in ids])
        return [entity_or_error(item) if item else None for item in items]

    # One BatchGetItem carries 100 keys; Dynamo.batch_get chunks larger batches.
    return DataLoader(load)


def _concurrent(fetch: Callable[[K], Awaitable[V]]) -> DataLoader[K, V]:
    async def load(ids: Sequence[K]) -> list[V]:
        return list(await asyncio.gather(*(fetch(i) for i in ids)))

    return DataLoader(load)


@dataclass(frozen=True)
class OrdersPageRequest:
    """One page of one user's orders; equal requests in a request share one Query."""

    user_id: str
    first: int
    after: str | None
    sort: orders.OrderSort
    sk_range: orders.SortKeyRange


class Loaders:
    def __init__(self, db: Dynamo, cursors: CursorCodec, view_shards: int) -> None:
        self.users: DataLoader[str, User | None] = _by_key(
            db, lambda i: entities.USER.key(id=i), User.from_item
        )
        self.products: DataLoader[str, Product | None] = _by_key(
            db, lambda i: entities.PRODUCT.key(id=i), Product.from_item
        )
        self.orders: DataLoader[entities.OrderRef, Order | None] = _by_key(
            db, lambda ref: ref.key, Order.from_item
        )
        self.order_lines: DataLoader[str, list[OrderLine]] = _concurrent(
            lambda number: orders.order_lines(db, number)
        )
        self.view_counts: DataLoader[str, int] = DataLoader(
            functools.partial(products.view_counts, db, shards=view_shards)
        )
        self.user_orders: DataLoader[OrdersPageRequest, Page] = _concurrent(
            lambda r: orders.user_orders(
                db,
                cursors,
                r.user_id,
                first=r.first,
                after=r.after,
                sort=r.sort,
                sk_range=r.sk_range,
            )
        )
