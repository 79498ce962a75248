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
from typing import Any

from shopgraph.data import entities
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import IdempotencyRecord
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


def new_record(
    user_id: str, key: str, operation: str, request: str, result: dict[str, Any]
) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id, key, operation, request, result, int(time.time()) + TTL_SECONDS
    )


def put_condition() -> dict[str, Any]:
    """The condition of the record's put, for a Transaction.put."""
    return {
        "condition": NEW_OR_EXPIRED,
        "names": {"#ttl": TTL_ATTRIBUTE},
        "values": {":now": int(time.time())},
    }


async def find(db: Dynamo, user_id: str, key: str, operation: str) -> IdempotencyRecord | None:
    """The live record, read strongly consistent; an expired one counts as absent."""
    item = await db.get(
        entities.IDEMPOTENCY.key(user_id=user_id, key=key, operation=operation), consistent=True
    )
    if not item or int(item.get(TTL_ATTRIBUTE, 0)) <= time.time():
        return None
    return entities.IDEMPOTENCY.from_item(item)


def check_same_request(record: IdempotencyRecord, request: str) -> None:
    if record.request != request:
        raise BadUserInput("This idempotencyKey was already used with other arguments")
