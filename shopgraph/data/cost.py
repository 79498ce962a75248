"""What one request costs in DynamoDB: calls by operation, capacity units, dollars."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class CostRecorder:
    read_unit_price: Decimal
    write_unit_price: Decimal
    calls: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    retries: int = 0  # botocore's own retries, within the calls counted
    throttles: int = 0  # calls that stayed throttled after those retries
    # Capacity units the operation's shape asked for, reckoned before any call.
    requested: float = 0.0

    def record(
        self, operation: str, consumed: Any, retries: int = 0, throttled: bool = False
    ) -> None:
        self.calls[operation] += 1
        self.retries += retries
        self.throttles += int(throttled)
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        for entry in entries:
            # Reads report ReadCapacityUnits, writes WriteCapacityUnits; older
            # engines report only CapacityUnits, which we attribute by operation.
            read = entry.get("ReadCapacityUnits")
            write = entry.get("WriteCapacityUnits")
            if read is None and write is None:
                total = float(entry.get("CapacityUnits") or 0)
                if operation in WRITE_OPERATIONS:
                    write = total
                else:
                    read = total
            self.read_units += float(read or 0)
            self.write_units += float(write or 0)

    def as_dict(self) -> dict[str, Any]:
        # Float arithmetic: the figure is an estimate, rounded, on every response.
        dollars = self.read_units * float(self.read_unit_price) + self.write_units * float(
            self.write_unit_price
        )
        return {
            "calls": dict(sorted(self.calls.items())),
            "totalCalls": sum(self.calls.values()),
            "readCapacityUnits": round(self.read_units, 4),
            "writeCapacityUnits": round(self.write_units, 4),
            "estimatedUsd": round(dollars, 12),
            "requestedQueryCost": round(self.requested, 4),
            "actualQueryCost": round(self.read_units + self.write_units, 4),
        }


KILOBYTE = 1024
READ_UNIT_BYTES = 4 * KILOBYTE
# An eventually consistent read of up to 4 KB; a strongly consistent one is twice that.
EVENTUAL_READ = 0.5


def key_read_units(keys: int, item_bytes: int, *, consistent: bool = False) -> float:
    """Read units of GetItem/BatchGetItem for `keys` items of about `item_bytes`:
    each item is rounded up to 4 KB on its own."""
    per_key = max(1, -(-item_bytes // READ_UNIT_BYTES)) * EVENTUAL_READ
    return keys * per_key * (2 if consistent else 1)


def query_read_units(items: int, item_bytes: int) -> float:
    """Read units of one eventually consistent Query returning `items` items of
    about `item_bytes`: their sizes are summed and the sum rounded up to 4 KB."""
    return -(-(items * item_bytes) // READ_UNIT_BYTES) * EVENTUAL_READ


def write_units(item_bytes: int, *, transaction: bool = False) -> int:
    """Write units of one item written once: 1 per KB, rounded up; 2 per KB in
    a TransactWriteItems."""
    return max(1, -(-item_bytes // KILOBYTE)) * (2 if transaction else 1)


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for one attribute value (its size rules, closely enough)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in raw)
    if kind == "NS":
        return sum(len(v) // 2 + 1 for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "M":
        return 3 + item_size(raw)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in raw)
    return 0


def item_size(attributes: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(v) for name, v in attributes.items())


def transactional_write_units(transact_items: list[dict[str, Any]]) -> float:
    """Write units of a TransactWriteItems as DynamoDB bills it: 2 per KB per item.

    For engines that report none (moto). A Put's size is its item; for an
    Update, Delete or ConditionCheck only the key and the new values are known
    here, so those count their 1 KB minimum unless the request itself is larger.
    """
    units = 0
    for action in transact_items:
        body = next(iter(action.values()))
        attributes = body.get("Item") or {
            **body.get("Key", {}),
            **body.get("ExpressionAttributeValues", {}),
        }
        units += write_units(item_size(attributes), transaction=True)
    return float(units)


WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
