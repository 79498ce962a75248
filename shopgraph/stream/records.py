"""What a stream record means to shopgraph: an order's status change, or nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shopgraph.data import entities
from shopgraph.data.codec import from_attributes
from shopgraph.data.entities import Order, OrderStatus


@dataclass(frozen=True)
class StatusChange:
    # The stream record's own id: the same wherever and however often the
    # record is read, so anyone can drop a duplicate by it.
    event_id: str
    sequence_number: str
    order: Order
    previous_status: OrderStatus | None  # None: the order was just placed
    changed_at: str
    shard_id: str = ""
    # The order as the record holds it (DynamoDB JSON), to pass the event on.
    image: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Where the change stands in the feed that delivered it (a Redis Streams
    # entry id, or this process's own count): what a subscriber resumes after.
    position: str | None = None

    @property
    def completes_order(self) -> bool:
        if self.previous_status is None and self.order.imported:
            return False  # past sales, counted by the import that wrote them
        return (
            self.order.status is OrderStatus.COMPLETED
            and self.previous_status is not OrderStatus.COMPLETED
        )


def status_change(record: dict[str, Any], shard_id: str = "") -> StatusChange | None:
    """The status change a record carries: an order inserted, or an order whose
    status differs between the old and new images. Anything else is None."""
    change = record.get("dynamodb") or {}
    new_image = change.get("NewImage")
    if not new_image or new_image.get("entityType", {}).get("S") != entities.ORDER.name:
        return None
    order = Order.from_item(from_attributes(new_image))
    old_image = change.get("OldImage")
    previous = OrderStatus(old_image["status"]["S"]) if old_image else None
    if previous is order.status:
        return None
    return StatusChange(
        event_id=record["eventID"],
        sequence_number=change["SequenceNumber"],
        order=order,
        previous_status=previous,
        changed_at=order.updated_at or order.created_at,
        shard_id=shard_id,
        image=new_image,
    )
