"""Where a serve process's subscribers get their changes from.

With Redis configured, from the Redis stream that stream workers publish to
(this process does not read the table's stream: DynamoDB Streams allows two
readers a shard). Without it, from the table's stream, read here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from shopgraph.settings import Settings
from shopgraph.stream import redis_changes
from shopgraph.stream.broker import Broker
from shopgraph.stream.local_feed import LocalFeed
from shopgraph.stream.records import StatusChange
from shopgraph.stream.runtime import stream_runtime


class ChangeSource(Protocol):
    def status(self) -> dict[str, Any]: ...


class _ReadHere:
    def __init__(self, feed: LocalFeed, runtime: Any) -> None:
        self.feed, self.runtime = feed, runtime

    def status(self) -> dict[str, Any]:
        return {**self.runtime.status(), **self.feed.status()}


@asynccontextmanager
async def live_changes(
    settings: Settings, client: Any, broker: Broker, endpoint_url: str | None = None
) -> AsyncIterator[ChangeSource | None]:
    """Feeds the broker while the server runs; None where nothing does
    (the stream consumer switched off, no Redis)."""
    if settings.redis_url:
        redis = redis_changes.connect(settings.redis_url)
        feed = redis_changes.RedisFeed(redis, settings.change_stream, broker)
        reading = asyncio.create_task(feed.run())
        try:
            yield feed
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await redis.aclose()
        return
    if not settings.stream_consumer:
        yield None
        return
    local = LocalFeed(broker, settings.subscription_replay)

    async def publish(change: StatusChange) -> None:
        local.publish(change)

    async with stream_runtime(settings, client, publish, endpoint_url) as runtime:
        yield _ReadHere(local, runtime)
