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

from shopgraph.data import entities, orders, products, sessions
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Order, OrderLine, Product, Session, User
from shopgraph.data.paging import CursorCodec, Page

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _item_batches(db: Dynamo) -> DataLoader[tuple[str, str], Item | None]:
    """Items by table key, whatever their entity: every key any loader asks in
    one tick (a product and its view counter shards, say) goes out in one
    BatchGetItem (100 keys a call; Dynamo.batch_get chunks larger batches).
    It only batches: the entity loaders above it cache, and clearing one of
    them must reach the table again."""

    async def load(keys: Sequence[tuple[str, str]]) -> list[Item | None]:
        return await db.batch_get([{"PK": pk, "SK": sk} for pk, sk in keys])

    return DataLoader(load, cache=False)


def _table_key(key: dict[str, str]) -> tuple[str, str]:
    return key["PK"], key["SK"]


def _by_key(
    items: DataLoader[tuple[str, str], Item | None],
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
        found = await items.load_many([_table_key(key_of(i)) for i in ids])
        return [entity_or_error(item) if item else None for item in found]

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
    """The request's loaders, each made on first use: most requests need one
    or two of them, and making a DataLoader is not free."""

    def __init__(self, db: Dynamo, cursors: CursorCodec, view_shards: int) -> None:
        self._db = db
        self._cursors = cursors
        self._view_shards = view_shards

    @functools.cached_property
    def items(self) -> DataLoader[tuple[str, str], Item | None]:
        return _item_batches(self._db)

    @functools.cached_property
    def users(self) -> DataLoader[str, User | None]:
        return _by_key(self.items, lambda i: entities.USER.key(id=i), User.from_item)

    @functools.cached_property
    def sessions(self) -> DataLoader[str, Session | None]:
        """Live sessions by token hash (an expired one is None)."""
        return _by_key(
            self.items, lambda hashed: entities.SESSION.key(token_hash=hashed), sessions.live
        )

    @functools.cached_property
    def products(self) -> DataLoader[str, Product | None]:
        return _by_key(self.items, lambda i: entities.PRODUCT.key(id=i), Product.from_item)

    @functools.cached_property
    def orders(self) -> DataLoader[entities.OrderRef, Order | None]:
        return _by_key(self.items, lambda ref: ref.key, Order.from_item)

    @functools.cached_property
    def order_lines(self) -> DataLoader[str, list[OrderLine]]:
        return _concurrent(lambda number: orders.order_lines(self._db, number))

    @functools.cached_property
    def view_counts(self) -> DataLoader[str, int]:
        async def load(product_ids: Sequence[str]) -> list[int]:
            keys = products.view_counter_keys(product_ids, self._view_shards)
            counters = await self.items.load_many([_table_key(k) for k in keys])
            return products.sum_views(counters, len(product_ids), self._view_shards)

        return DataLoader(load)

    @functools.cached_property
    def user_orders(self) -> DataLoader[OrdersPageRequest, Page]:
        return _concurrent(
            lambda r: orders.user_orders(
                self._db,
                self._cursors,
                r.user_id,
                first=r.first,
                after=r.after,
                sort=r.sort,
                sk_range=r.sk_range,
            )
        )
