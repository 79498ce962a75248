"""Fan-out of status changes to this process's subscribers, without a broker.

Every subscriber has a bounded queue. One that falls behind (a client that
stops reading) is dropped: it never slows the others or grows memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from shopgraph.stream.records import StatusChange

log = logging.getLogger("shopgraph.stream")


class SubscriberTooSlow(Exception):
    pass


@dataclass(eq=False)
class Subscriber:
    accepts: Callable[[StatusChange], bool]
    queue: asyncio.Queue[StatusChange]
    on_drop: Callable[[], None] | None = None
    dropped: bool = False

    async def changes(self) -> AsyncIterator[StatusChange]:
        while True:
            change = await self.queue.get()
            if self.dropped:
                raise SubscriberTooSlow("subscriber fell behind and was dropped")
            yield change


@dataclass
class Broker:
    queue_size: int = 100
    subscribers: set[Subscriber] = field(default_factory=set)

    def subscribe(
        self, accepts: Callable[[StatusChange], bool], on_drop: Callable[[], None] | None = None
    ) -> Subscriber:
        subscriber = Subscriber(accepts, asyncio.Queue(self.queue_size), on_drop)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def publish(self, change: StatusChange) -> None:
        for subscriber in list(self.subscribers):
            if not subscriber.accepts(change):
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        log.warning("dropping a subscriber that fell %d changes behind", self.queue_size)
        subscriber.dropped = True
        self.unsubscribe(subscriber)
        if subscriber.on_drop:
            subscriber.on_drop()
