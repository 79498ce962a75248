"""Sessions: TTL items keyed by the SHA-256 of the token."""

from __future__ import annotations

import time

from shopgraph.data import entities
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import Session


async def put_session(db: Dynamo, session: Session) -> None:
    await db.put(session.to_item(), condition="attribute_not_exists(PK)")


def live(item: Item | None) -> Session | None:
    """The session in item, unless absent or past its ttl (TTL deletion may lag by days)."""
    if not item:
        return None
    session = Session.from_item(item)
    return session if session.ttl > time.time() else None


async def delete_session(db: Dynamo, token_hash: str) -> None:
    await db.delete(entities.SESSION.key(token_hash=token_hash))
