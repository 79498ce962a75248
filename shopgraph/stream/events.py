"""A status change as a Redis Streams entry, and feed positions.

An entry's fields are flat strings: the event id (the stream record's own, so
a duplicate can be dropped by it), the shard and sequence number it came from,
and the change itself as JSON holding the order as the record had it.
A position is where an entry stands in a feed: `<milliseconds>-<count>`, the
shape of a Redis Streams entry id, which a process without Redis imitates.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from shopgraph.data.codec import from_attributes
from shopgraph.data.entities import Order, OrderStatus
from shopgraph.stream.records import StatusChange

_POSITION = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")


def encode(change: StatusChange) -> dict[str, str]:
    return {
        "id": change.event_id,
        "shard": change.shard_id,
        "seq": change.sequence_number,
        "change": orjson.dumps(
            {
                "previousStatus": change.previous_status.value if change.previous_status else None,
                "changedAt": change.changed_at,
                "order": change.image,
            }
        ).decode(),
    }


def decode(fields: dict[str, str], position: str) -> StatusChange:
    body: dict[str, Any] = orjson.loads(fields["change"])
    previous = body.get("previousStatus")
    image = body["order"]
    return StatusChange(
        event_id=fields["id"],
        sequence_number=fields["seq"],
        order=Order.from_item(from_attributes(image)),
        previous_status=OrderStatus(previous) if previous else None,
        changed_at=body["changedAt"],
        shard_id=fields["shard"],
        image=image,
        position=position,
    )


def parse_position(text: str) -> tuple[int, int] | None:
    """A position's order key, or None where text is not one."""
    match = _POSITION.match(text)
    return (int(match[1]), int(match[2])) if match else None


class RecentIds:
    """The last `size` event ids seen: a duplicate of any of them is dropped."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest first

    def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._size:
            del self._seen[next(iter(self._seen))]
        return True
