"""salesStats, applied from the stream exactly once.

The increment and a marker item for the stream record are one transaction
conditioned on the marker not existing, so a record read again after a restart
(or by a second process) changes nothing.
"""

from __future__ import annotations

import time

from shopgraph.data import keys
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.table import TTL_ATTRIBUTE
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
    marker = {
        **keys.APPLIED_EVENT.key(event_id=change.event_id, consumer=CONSUMER),
        "entityType": keys.APPLIED_EVENT.entity,
        "orderNumber": change.order.number,
        TTL_ATTRIBUTE: int(time.time()) + MARKER_TTL_SECONDS,
    }
    tx.put("marker", marker, "attribute_not_exists(PK)")
    tx.update(
        "stats",
        keys.SALES_STATS.key(day=day),
        "ADD completedOrders :one, revenue :total SET entityType = :type, #day = :day",
        names={"#day": "day"},
        values={
            ":one": 1,
            ":total": change.order.total,
            ":type": keys.SALES_STATS.entity,
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
