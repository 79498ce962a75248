"""Daily sales statistics, kept up to date from the table's stream."""

from __future__ import annotations

from shopgraph.data import entities
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import SalesStats


async def sales_stats(db: Dynamo, day: str) -> SalesStats:
    item = await db.get(entities.SALES_STATS.key(day=day))
    return SalesStats.from_item(day, item)
