"""Product listings and view counters."""

from __future__ import annotations

from collections.abc import Sequence

from shopgraph.data import entities
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


async def view_counts(db: Dynamo, product_ids: Sequence[str], shards: int) -> list[int]:
    """Each product's views: the sum of its counter shards, every shard of every
    product asked in one BatchGetItem (100 keys a call), so a page of products
    costs one call for all its counts. Shards are 0..shards-1: the setting may
    grow, never shrink."""
    keys = [
        entities.VIEW_COUNTER.key(product_id=p, shard=shard)
        for p in product_ids
        for shard in range(shards)
    ]
    counters = await db.batch_get(keys)
    per_product = (counters[n * shards : (n + 1) * shards] for n in range(len(product_ids)))
    return [sum(int(c.get("count", 0)) for c in shard_items if c) for shard_items in per_product]
