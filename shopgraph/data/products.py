"""Product listings and view counters."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from shopgraph.data import entities
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.paging import CursorCodec, Page, query_page
from shopgraph.data.table import GSI1


async def products_by_category(
    db: Dynamo, codec: CursorCodec, category: str, first: int, after: str | None
) -> Page:
    pk = entities.PRODUCT.partition(GSI1, category=category)
    return await query_page(
        db,
        codec,
        listing=f"products-by-category|{category}",
        index=GSI1,
        first=first,
        after=after,
        params={
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        },
    )


def view_counter_keys(product_ids: Sequence[str], shards: int) -> list[dict[str, str]]:
    """Every shard of every product's view counter, product by product: read in
    one BatchGetItem, a page of products costs one call for all its counts.
    Shards are 0..shards-1: the setting may grow, never shrink."""
    return [dict(key) for p in product_ids for key in _counter_keys(p, shards)]


# A page of 20 products has 80 counter keys, each 3 µs to build and check:
# built once per product (a copy of each is handed out, as keys are dicts).
@functools.lru_cache(maxsize=8192)
def _counter_keys(product_id: str, shards: int) -> tuple[dict[str, str], ...]:
    return tuple(
        entities.VIEW_COUNTER.key(product_id=product_id, shard=shard) for shard in range(shards)
    )


def sum_views(counters: Sequence[Item | None], products: int, shards: int) -> list[int]:
    """Each product's views, from the counters of view_counter_keys (None: no views yet)."""
    per_product = (counters[n * shards : (n + 1) * shards] for n in range(products))
    return [sum(int(c.get("count", 0)) for c in shard_items if c) for shard_items in per_product]
