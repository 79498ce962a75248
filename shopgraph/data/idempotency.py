"""Idempotency records: the first result of a keyed mutation, kept for 24 hours.

The record is written in the same transaction as the change it remembers, so a
retry either finds it (and returns the first result, writing nothing) or the
first attempt never happened.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from shopgraph.data import keys
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.table import TTL_ATTRIBUTE
from shopgraph.errors import BadUserInput

TTL_SECONDS = 24 * 3600
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Written only if no live record exists; an expired one may be replaced.
NEW_OR_EXPIRED = "attribute_not_exists(PK) OR #ttl < :now"


def validate_key(key: str) -> str:
    if not _KEY.match(key):
        raise BadUserInput("idempotencyKey must be 1-64 characters of A-Z, a-z, 0-9, _ . : -")
    return key


def fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyRecord:
    user_id: str
    key: str
    operation: str
    request: str  # fingerprint of the arguments
    result: dict[str, Any]
    ttl: int

    @property
    def table_key(self) -> dict[str, str]:
        return keys.IDEMPOTENCY.key(user_id=self.user_id, key=self.key, operation=self.operation)

    def to_item(self) -> Item:
        return {
            **self.table_key,
            "entityType": keys.IDEMPOTENCY.entity,
            "request": self.request,
            "result": json.dumps(self.result),
            TTL_ATTRIBUTE: self.ttl,
        }

    @classmethod
    def new(
        cls, user_id: str, key: str, operation: str, request: str, result: dict[str, Any]
    ) -> IdempotencyRecord:
        return cls(user_id, key, operation, request, result, int(time.time()) + TTL_SECONDS)

    def condition(self) -> dict[str, Any]:
        """The put condition, for a Transaction.put."""
        return {
            "condition": NEW_OR_EXPIRED,
            "names": {"#ttl": TTL_ATTRIBUTE},
            "values": {":now": int(time.time())},
        }


async def find(db: Dynamo, user_id: str, key: str, operation: str) -> IdempotencyRecord | None:
    """The live record, read strongly consistent; an expired one counts as absent."""
    item = await db.get(
        keys.IDEMPOTENCY.key(user_id=user_id, key=key, operation=operation), consistent=True
    )
    if not item or int(item.get(TTL_ATTRIBUTE, 0)) <= time.time():
        return None
    return IdempotencyRecord(
        user_id, key, operation, item["request"], json.loads(item["result"]), int(item["ttl"])
    )


def check_same_request(record: IdempotencyRecord, request: str) -> None:
    if record.request != request:
        raise BadUserInput("This idempotencyKey was already used with other arguments")
