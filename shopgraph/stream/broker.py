"""Fan-out of status changes to this process's subscribers.

Every change arrives with its position in the feed it came through (the
table's stream read here, or Redis), and every subscriber has a bounded queue.
One that falls behind (a client that stops reading) is dropped: it never slows
the others or grows memory. A subscriber that resumes after a position first
gets what the feed's history holds after it, then the live changes, each once
and in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from shopgraph.stream.events import parse_position
from shopgraph.stream.records import StatusChange

log = logging.getLogger("shopgraph.stream")


class SubscriberTooSlow(Exception):
    pass


class FeedInterrupted(Exception):
    """Changes may have been missed (the feed's history was lost meanwhile)."""


class HistoryGone(Exception):
    """A position the feed no longer holds, or never held."""


class History(Protocol):
    async def after(self, position: str, limit: int) -> list[StatusChange]:
        """The changes after position, oldest first; HistoryGone where the
        position is not there any more, or more than limit follow it."""
        ...


def position_key(change: StatusChange) -> tuple[int, int]:
    key = parse_position(change.position or "")
    assert key is not None, f"a change without a feed position: {change.position!r}"
    return key


@dataclass(eq=False)
class Subscriber:
    accepts: Callable[[StatusChange], bool]
    # Whose changes it may get: one user's, or None for anyone's (an admin).
    user_id: str | None
    # None wakes a subscriber to tell it the feed was interrupted.
    queue: asyncio.Queue[StatusChange | None]
    on_drop: Callable[[], None] | None = None
    dropped: bool = False
    interrupted: str | None = None
    # What the history held after the position it resumed from, sent first.
    backlog: list[StatusChange] = field(default_factory=list)
    # The last position sent: anything at or before it is not sent again.
    last: tuple[int, int] = (0, 0)

    async def changes(self) -> AsyncIterator[StatusChange]:
        while self.backlog:
            change = self.backlog.pop(0)
            self.last = position_key(change)
            yield change
        while True:
            if self.dropped:
                raise SubscriberTooSlow("subscriber fell behind and was dropped")
            if self.interrupted is not None and self.queue.empty():
                raise FeedInterrupted(self.interrupted)
            change = await self.queue.get()
            if change is None:
                continue
            key = position_key(change)
            if key <= self.last:
                continue  # also in the backlog it was sent first
            self.last = key
            yield change


@dataclass
class Broker:
    queue_size: int = 100
    replay_limit: int = 10_000
    history: History | None = None
    subscribers: set[Subscriber] = field(default_factory=set)
    # By the user whose changes they may get (None: anyone's), so a change
    # costs its own subscribers, not every subscriber of the process.
    _by_user: dict[str | None, set[Subscriber]] = field(default_factory=dict)

    async def subscribe(
        self,
        accepts: Callable[[StatusChange], bool],
        on_drop: Callable[[], None] | None = None,
        *,
        user_id: str | None = None,
        after: str | None = None,
    ) -> Subscriber:
        """A new subscriber to changes of `user_id`'s orders (None: anyone's)
        that it accepts; with `after`, also every such change the history
        holds after that position (HistoryGone where it cannot)."""
        subscriber = Subscriber(accepts, user_id, asyncio.Queue(self.queue_size), on_drop)
        # Listening before reading the history: a change that arrives meanwhile
        # is in the queue, or in both (and then sent once).
        self.subscribers.add(subscriber)
        self._by_user.setdefault(user_id, set()).add(subscriber)
        if after is None:
            return subscriber
        try:
            if self.history is None or parse_position(after) is None:
                raise HistoryGone(after)
            past = await self.history.after(after, self.replay_limit)
        except BaseException:
            self.unsubscribe(subscriber)
            raise
        subscriber.backlog = [change for change in past if self._wants(subscriber, change)]
        subscriber.last = parse_position(after) or (0, 0)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        of_user = self._by_user.get(subscriber.user_id)
        if of_user is not None:
            of_user.discard(subscriber)
            if not of_user:
                del self._by_user[subscriber.user_id]

    @staticmethod
    def _wants(subscriber: Subscriber, change: StatusChange) -> bool:
        owner = subscriber.user_id
        return (owner is None or owner == change.order.user_id) and subscriber.accepts(change)

    def publish(self, change: StatusChange) -> None:
        candidates = [
            *self._by_user.get(change.order.user_id, ()),
            *self._by_user.get(None, ()),
        ]
        for subscriber in candidates:
            if not subscriber.accepts(change):
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                self._drop(subscriber)

    def interrupt(self, reason: str) -> None:
        """Ends every subscription with an error saying changes may have been missed."""
        for subscriber in list(self.subscribers):
            subscriber.interrupted = reason
            self.unsubscribe(subscriber)
            # What is queued is still sent; a subscriber waiting on an empty
            # queue is woken to hear it.
            if subscriber.queue.empty():
                subscriber.queue.put_nowait(None)

    def _drop(self, subscriber: Subscriber) -> None:
        log.warning("dropping a subscriber that fell %d changes behind", self.queue_size)
        subscriber.dropped = True
        self.unsubscribe(subscriber)
        if subscriber.on_drop:
            subscriber.on_drop()
