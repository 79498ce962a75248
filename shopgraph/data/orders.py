"""Order listings: a user's orders, orders by status (sharded), flagged orders."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from shopgraph.data import entities
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Order, OrderLine, OrderStatus
from shopgraph.data.paging import CursorCodec, Page, fetch_up_to, query_page, validate_first
from shopgraph.data.table import GSI1, GSI2, LSI1, TABLE_INDEX
from shopgraph.errors import BadUserInput


class OrderSort(enum.Enum):
    NEWEST_FIRST = "NEWEST_FIRST"
    OLDEST_FIRST = "OLDEST_FIRST"
    LARGEST_TOTAL_FIRST = "LARGEST_TOTAL_FIRST"
    SMALLEST_TOTAL_FIRST = "SMALLEST_TOTAL_FIRST"

    @property
    def by_total(self) -> bool:
        return self in (OrderSort.LARGEST_TOTAL_FIRST, OrderSort.SMALLEST_TOTAL_FIRST)

    @property
    def descending(self) -> bool:
        return self in (OrderSort.NEWEST_FIRST, OrderSort.LARGEST_TOTAL_FIRST)


@dataclass(frozen=True)
class SortKeyRange:
    """Inclusive bounds on the order sort key `ORDER#<createdAt>#<number>`.

    `placedOn` (a date prefix) and `since`/`until` (instants) all narrow one
    range, so every listing is a single `SK BETWEEN` Query.
    """

    lower: str = entities.ORDER_SK_PREFIX
    upper: str = entities.ORDER_SK_UPPER

    @classmethod
    def of(
        cls, placed_on: str | None = None, since: str | None = None, until: str | None = None
    ) -> SortKeyRange:
        prefix = entities.ORDER_SK_PREFIX
        lower, upper = prefix, entities.ORDER_SK_UPPER
        if placed_on is not None:
            lower, upper = max(lower, prefix + placed_on), min(upper, prefix + placed_on + "~")
        if since is not None:
            lower = max(lower, prefix + since)
        if until is not None:
            # An order at exactly `until` has SK ORDER#<until>#<number>: '~' keeps it in.
            upper = min(upper, prefix + until + "#~")
        return cls(lower, upper)

    @property
    def is_everything(self) -> bool:
        return self == SortKeyRange()

    @property
    def is_empty(self) -> bool:
        return self.lower > self.upper


async def user_orders(
    db: Dynamo,
    codec: CursorCodec,
    user_id: str,
    *,
    first: int,
    after: str | None,
    sort: OrderSort,
    sk_range: SortKeyRange,
) -> Page:
    validate_first(first)
    pk = entities.ORDER.partition(user_id=user_id)
    if sort.by_total:
        if not sk_range.is_everything:
            raise BadUserInput(
                "placedOn, since and until go with NEWEST_FIRST or OLDEST_FIRST only"
            )
        index = LSI1
        # The LSI holds only items with LSI1SK: orders.
        params: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
    else:
        if sk_range.is_empty:
            return Page([], False, after is not None)
        index = TABLE_INDEX
        params = {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":lo": {"S": sk_range.lower},
                ":hi": {"S": sk_range.upper},
            },
        }
    params["ScanIndexForward"] = not sort.descending
    listing = f"user-orders|{user_id}|{sort.value}|{sk_range.lower}|{sk_range.upper}"
    return await query_page(
        db, codec, listing=listing, index=index, first=first, after=after, params=params
    )


async def orders_by_status(
    db: Dynamo,
    codec: CursorCodec,
    status: OrderStatus,
    shards: int,
    *,
    first: int,
    after: str | None,
) -> Page:
    """Newest first across the status shards, queried concurrently and merged.

    The cursor is the merged position (the last GSI1SK returned): every shard
    resumes strictly below it, so one cursor serves all shards.
    """
    validate_first(first)
    listing = f"orders-by-status|{status.value}|{shards}"
    below = None
    if after is not None:
        below = codec.decode(listing, after).get("GSI1SK")
        if not isinstance(below, str):
            raise BadUserInput("Invalid cursor")

    async def shard_items(shard: int) -> list[Item]:
        values: dict[str, Any] = {
            ":pk": {"S": entities.ORDER.partition(GSI1, status=status.value, shard=shard)}
        }
        condition = "GSI1PK = :pk"
        if below is not None:
            condition += " AND GSI1SK < :below"
            values[":below"] = {"S": below}
        query: dict[str, Any] = {
            "IndexName": GSI1.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        return await fetch_up_to(db, query, first + 1)

    per_shard = await asyncio.gather(*(shard_items(s) for s in range(shards)))
    merged = sorted(
        (i for items in per_shard for i in items), key=lambda i: i["GSI1SK"], reverse=True
    )
    page_items = merged[:first]
    return Page(
        items=page_items,
        has_next_page=len(merged) > first,
        has_previous_page=after is not None,
        cursor_of=lambda item: codec.encode(listing, {"GSI1SK": item["GSI1SK"]}),
    )


async def flagged_orders(db: Dynamo, codec: CursorCodec, *, first: int, after: str | None) -> Page:
    pk = entities.ORDER.partition(GSI2)
    return await query_page(
        db,
        codec,
        listing="flagged-orders",
        index=GSI2,
        first=first,
        after=after,
        params={
            "KeyConditionExpression": "GSI2PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": False,
        },
    )


async def lines_of(db: Dynamo, order: Order) -> list[OrderLine]:
    """The order's lines: on the order item itself, or (an order written before
    orders carried them) its OrderLine items."""
    return list(order.lines) if order.lines is not None else await order_lines(db, order.number)


async def order_lines(db: Dynamo, number: str) -> list[OrderLine]:
    items = await db.query_all(
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={
            ":pk": {"S": entities.ORDER_LINE.partition(order_number=number)}
        },
    )
    return [OrderLine.from_item(i) for i in items]
