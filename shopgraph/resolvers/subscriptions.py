"""orderStatusChanged: the stream's status changes, pushed to the subscribers who may see them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from shopgraph.data.timefmt import format_instant
from shopgraph.errors import InvalidCursor, NotFound, Unavailable
from shopgraph.resolvers import auth
from shopgraph.resolvers.context import RequestContext
from shopgraph.resolvers.orders import visible_order
from shopgraph.stream.broker import FeedInterrupted, HistoryGone
from shopgraph.stream.records import StatusChange

log = logging.getLogger("shopgraph.stream")
SLOW_SUBSCRIBER_CLOSE_CODE = 1008  # policy violation: it stopped reading


def _drop_connection(ctx: RequestContext) -> None:
    """Closes the websocket of a subscriber that stopped reading. Its socket
    buffer is full, so a polite close frame may never leave: abort after a second."""
    websocket, request = ctx.response, ctx.request

    async def close() -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                websocket.close(code=SLOW_SUBSCRIBER_CLOSE_CODE, message=b"subscriber too slow"), 1
            )
        transport = getattr(request, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()

    if websocket is not None and hasattr(websocket, "close"):
        asyncio.get_running_loop().create_task(close())


async def order_status_changes(
    ctx: RequestContext, order_id: str | None, after: str | None = None
) -> AsyncIterator[StatusChange]:
    """The changes the viewer may see, as they happen; after a change's
    cursor, first those since that change (a subscriber that reconnects,
    to this process or another, misses nothing and gets nothing twice)."""
    viewer = await auth.require_viewer(ctx)
    number = None
    # For one order: only what follows the state the subscriber could read now.
    read_at = ""
    if order_id is not None:
        order = await visible_order(ctx, order_id)
        if order is None:
            raise NotFound("No such order")
        number = order.number
        read_at = order.updated_at or order.created_at
    if ctx.broker is None:
        raise Unavailable("Live updates are not running on this server")

    # The stream is read with some lag, so what arrives now may be older than
    # this subscription: a backlog (after an outage) is not news to it. But a
    # change is stamped before it commits, and one that commits after the
    # subscriber arrived must reach it: changes stamped up to a request's
    # deadline before now still come (one a moment older is harmless news).
    since = format_instant(datetime.now(UTC) - timedelta(seconds=ctx.settings.request_deadline))

    def accepts(change: StatusChange) -> bool:
        if number is not None and change.order.number != number:
            return False
        if after is None and (change.changed_at < since or change.changed_at <= read_at):
            return False
        return viewer.is_admin or change.order.user_id == viewer.id

    try:
        subscriber = await ctx.broker.subscribe(
            accepts,
            on_drop=lambda: _drop_connection(ctx),
            user_id=None if viewer.is_admin else viewer.id,
            after=after,
        )
    except HistoryGone:
        raise InvalidCursor(
            "This cursor is not among the changes kept here any more (or never was): "
            "subscribe without `after` and read current state by query"
        ) from None
    try:
        async for change in subscriber.changes():
            ctx.fresh_loaders()
            yield change
    except FeedInterrupted as interrupted:
        raise Unavailable(str(interrupted)) from None
    finally:
        ctx.broker.unsubscribe(subscriber)
