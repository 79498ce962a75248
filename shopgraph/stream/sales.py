"""salesStats, applied from the stream exactly once.

The increment and a marker item for the stream record are one transaction
conditioned on the marker not existing, so a record read again after a restart
(or by a second process) changes nothing.
"""

from __future__ import annotations

import time

from shopgraph.data import entities
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import AppliedEvent
from shopgraph.data.transactions import Cancelled, Transaction, transact
from shopgraph.stream.records import StatusChange

CONSUMER = "sales-stats"
MARKER_TTL_SECONDS = 48 * 3600


async def apply_completion(db: Dynamo, change: StatusChange) -> bool:
    """Counts a completed order into its UTC day; False when already counted."""
    if not change.completes_order:
        return False
    day = change.changed_at[:10]
    tx = Transaction(db.table_name)
    marker = AppliedEvent(
        change.event_id, CONSUMER, change.order.number, int(time.time()) + MARKER_TTL_SECONDS
    )
    tx.put("marker", entities.APPLIED_EVENT.item(marker), "attribute_not_exists(PK)")
    tx.update(
        "stats",
        entities.SALES_STATS.key(day=day),
        "ADD completedOrders :one, revenue :total SET entityType = :type, #day = :day",
        names={"#day": "day"},
        values={
            ":one": 1,
            ":total": change.order.total,
            ":type": entities.SALES_STATS.name,
            ":day": day,
        },
    )
    try:
        await transact(db, tx)
    except Cancelled as cancelled:
        if cancelled.failed("marker"):
            return False
        raise
    return True
