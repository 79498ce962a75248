"""Relay-style pages over single-partition Queries, with signed cursors.

A cursor is the key of the last item a page returned, signed with the server
secret together with the listing that issued it. So a cursor cannot be forged,
edited, or replayed against another listing (another user's orders, another
category, another sort order): any of those is INVALID_CURSOR.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shopgraph.data.codec import Item, from_attributes
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.table import TABLE_INDEX, Index
from shopgraph.errors import BadUserInput, InvalidCursor

MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 2048


def validate_first(first: int) -> int:
    if not isinstance(first, int) or not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}")
    return first


@dataclass(frozen=True)
class CursorCodec:
    secret: bytes

    def _sign(self, listing: str, payload: bytes) -> bytes:
        mac = hmac.new(self.secret, listing.encode() + b"\x00" + payload, hashlib.sha256)
        return mac.digest()[:18]

    def encode(self, listing: str, position: dict[str, Any]) -> str:
        payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
        raw = self._sign(listing, payload) + payload
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, listing: str, cursor: str) -> dict[str, Any]:
        if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("Invalid cursor")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor("Invalid cursor") from exc
        signature, payload = raw[:18], raw[18:]
        if not hmac.compare_digest(signature, self._sign(listing, payload)):
            raise InvalidCursor("This cursor was not issued for this listing")
        try:
            position = json.loads(payload)
        except ValueError as exc:
            raise InvalidCursor("Invalid cursor") from exc
        if not isinstance(position, dict):
            raise InvalidCursor("Invalid cursor")
        return position


def _no_cursor(item: Item) -> str:
    raise AssertionError("an empty page has no cursors")


@dataclass
class Page:
    items: list[Item]
    has_next_page: bool
    has_previous_page: bool
    # Signing a cursor costs an HMAC: only the cursors a client asks for are made.
    cursor_of: Callable[[Item], str] = _no_cursor

    def cursor(self, index: int) -> str:
        return self.cursor_of(self.items[index])


def _position(item: Item, index: Index) -> dict[str, Any]:
    """The ExclusiveStartKey that resumes after `item`: table keys plus index keys."""
    names = dict.fromkeys((*TABLE_INDEX.key_attributes, *index.key_attributes))
    position: dict[str, Any] = {}
    for name in names:
        value = item[name]
        position[name] = {"N": str(value)} if not isinstance(value, str) else {"S": value}
    return position


async def fetch_up_to(db: Dynamo, query: dict[str, Any], count: int) -> list[Item]:
    """Up to `count` items of one Query, following DynamoDB's own pages where
    a 1 MB page cuts short: asking for first+1 is what makes hasNextPage exact."""
    query = dict(query)
    items: list[Item] = []
    while len(items) < count:
        query["Limit"] = count - len(items)
        response = await db.query(**query)
        items.extend(from_attributes(i) for i in response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if not last:
            break
        query["ExclusiveStartKey"] = last
    return items


async def query_page(
    db: Dynamo,
    codec: CursorCodec,
    *,
    listing: str,
    index: Index,
    first: int,
    after: str | None,
    params: dict[str, Any],
) -> Page:
    """One exact page: asks for first+1 items (following DynamoDB's own pages
    when a 1 MB page cuts short), so hasNextPage is true only when one exists."""
    validate_first(first)
    query = dict(params)
    if index.name:
        query["IndexName"] = index.name
    if after is not None:
        query["ExclusiveStartKey"] = codec.decode(listing, after)
    items = await fetch_up_to(db, query, first + 1)
    page_items = items[:first]
    return Page(
        items=page_items,
        has_next_page=len(items) > first,
        has_previous_page=after is not None,
        cursor_of=lambda item: codec.encode(listing, _position(item, index)),
    )
