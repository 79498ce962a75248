"""Product listings and view counters."""

from __future__ import annotations

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


async def view_count(db: Dynamo, product_id: str) -> int:
    """The sum of the product's sharded counters: one single-partition Query."""
    counters = await db.query_all(
        KeyConditionExpression="PK = :pk AND begins_with(SK, :views)",
        ExpressionAttributeValues={
            ":pk": {"S": entities.VIEW_COUNTER.partition(product_id=product_id)},
            ":views": {"S": entities.VIEWS_SK_PREFIX},
        },
        ProjectionExpression="#c",
        ExpressionAttributeNames={"#c": "count"},
    )
    return sum(int(c.get("count", 0)) for c in counters)
