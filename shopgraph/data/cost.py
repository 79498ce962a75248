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
        dollars = (
            Decimal(str(self.read_units)) * self.read_unit_price
            + Decimal(str(self.write_units)) * self.write_unit_price
        )
        return {
            "calls": dict(sorted(self.calls.items())),
            "totalCalls": sum(self.calls.values()),
            "readCapacityUnits": round(self.read_units, 4),
            "writeCapacityUnits": round(self.write_units, 4),
            "estimatedUsd": float(round(dollars, 12)),
        }


WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
