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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shopgraph.data import entities
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import IdempotencyRecord
from shopgraph.data.table import TTL_ATTRIBUTE
from shopgraph.data.transactions import Cancelled, Transaction, transact
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


STEP = "idempotency"  # the record's step in the transaction it remembers

R = TypeVar("R")


class Replay(Exception):
    """The request was done before (or by a concurrent retry): its first result."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("already done")
        self.result = result


@dataclass(frozen=True)
class KeyedRequest:
    """One mutation sent under an idempotencyKey: who, which key, which
    operation, and the fingerprint of its arguments."""

    db: Dynamo
    user_id: str
    key: str
    operation: str
    request: str

    @classmethod
    def of(
        cls, db: Dynamo, user_id: str, key: str | None, operation: str, arguments: dict[str, Any]
    ) -> KeyedRequest | None:
        if key is None:
            return None
        return cls(db, user_id, validate_key(key), operation, fingerprint(arguments))

    async def replay_if_done(self) -> None:
        """Raises Replay with the first result when a live record exists; a
        record of other arguments under this key is bad input."""
        item = await self.db.get(
            entities.IDEMPOTENCY.key(user_id=self.user_id, key=self.key, operation=self.operation),
            consistent=True,
        )
        if not item or int(item.get(TTL_ATTRIBUTE, 0)) <= time.time():
            return  # none, or expired: a new request
        record = entities.IDEMPOTENCY.from_item(item)
        if record.request != self.request:
            raise BadUserInput("This idempotencyKey was already used with other arguments")
        raise Replay(record.result)

    def record_in(self, tx: Transaction, result: dict[str, Any]) -> None:
        """Adds the record of `result` to the transaction that makes it, written
        only if no live record exists (an expired one may be replaced)."""
        record = IdempotencyRecord(
            self.user_id,
            self.key,
            self.operation,
            self.request,
            result,
            int(time.time()) + TTL_SECONDS,
        )
        tx.put(
            STEP,
            record.to_item(),
            NEW_OR_EXPIRED,
            names={"#ttl": TTL_ATTRIBUTE},
            values={":now": int(time.time())},
        )


async def transact_once(db: Dynamo, tx: Transaction, keyed: KeyedRequest | None) -> None:
    """transact, where losing the record step to the same key (a concurrent
    retry won) raises Replay with the winner's result."""
    try:
        await transact(db, tx)
    except Cancelled as cancelled:
        if keyed is not None and cancelled.failed(STEP):
            await keyed.replay_if_done()
        raise


async def once(
    keyed: KeyedRequest | None,
    run: Callable[[], Awaitable[R]],
    replay: Callable[[dict[str, Any]], Awaitable[R]],
) -> R:
    """The one idempotency wrapper: a request done before answers with its
    first result (writing nothing); otherwise `run` does it, recording its
    result with `record_in` in its transaction and committing with
    `transact_once`."""
    try:
        if keyed is not None:
            await keyed.replay_if_done()
        return await run()
    except Replay as done:
        return await replay(done.result)
