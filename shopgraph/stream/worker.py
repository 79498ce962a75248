"""A stream worker: reads its leased shards of the table's stream, applies the
reactions (salesStats, exactly once) and publishes each change to Redis.

`shopgraph stream-worker` runs one; `shopgraph serve --workers N` runs one in
its parent process. Two or more share the shards by lease (`leases.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from shopgraph.data.dynamo import UNREACHABLE_ERRORS, open_client
from shopgraph.data.table import ensure_table
from shopgraph.errors import Unavailable
from shopgraph.settings import Settings
from shopgraph.stream import redis_changes
from shopgraph.stream.runtime import Sink, stream_runtime

log = logging.getLogger("shopgraph.stream")


async def run_stream_worker(
    settings: Settings, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    """Runs until `stop` is set, then gives its leases back."""
    redis = redis_changes.connect(settings.redis_url) if settings.redis_url else None
    sink: Sink | None = None
    if redis is not None:
        sink = redis_changes.RedisPublisher(
            redis, settings.change_stream, settings.redis_stream_maxlen
        ).publish
    try:
        async with open_client(settings) as client:
            if not await _table_ready(client, settings, stop):
                return
            async with stream_runtime(settings, client, sink, leased=True) as runtime:
                assert runtime.consumer.leases is not None
                where = (
                    f"publishing changes to redis stream {settings.change_stream}"
                    if redis is not None
                    else "counting sales only (no SHOPGRAPH_REDIS_URL: no changes published)"
                )
                announce(
                    f"stream worker {runtime.consumer.leases.worker_id} reading the stream of "
                    f"{settings.table_name}, {where}"
                )
                await stop.wait()
    finally:
        if redis is not None:
            await redis.aclose()


async def _table_ready(client: Any, settings: Settings, stop: asyncio.Event) -> bool:
    """Creates the table if missing, waiting while the store cannot be reached;
    False when told to stop meanwhile."""
    waited = False
    while not stop.is_set():
        try:
            await ensure_table(client, settings.table_name)
            return True
        except (Unavailable, *UNREACHABLE_ERRORS):
            if not waited:
                log.warning("stream worker: the store cannot be reached yet; waiting for it")
                waited = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2)
    return False
