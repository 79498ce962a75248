"""The stream consumer as a process runs it: salesStats, then the change passed on.

A serve process without Redis passes each change to its own subscribers; a
stream worker publishes it to Redis (or, without Redis, only counts sales).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from shopgraph.data.dynamo import UNREACHABLE_ERRORS, Dynamo, open_client
from shopgraph.errors import Unavailable
from shopgraph.settings import Settings
from shopgraph.stream.consumer import StreamConsumer
from shopgraph.stream.leases import ShardLeases
from shopgraph.stream.records import StatusChange, status_change
from shopgraph.stream.sales import CONSUMER, apply_completion

log = logging.getLogger("shopgraph.stream")

# Where a change goes once its effects are applied.
Sink = Callable[[StatusChange], Awaitable[None]]
# How long a stop waits for readers to end their batch before cutting them off.
STOP_GRACE_SECONDS = 10.0


class StreamRuntime:
    def __init__(
        self, db: Dynamo, streams: Any, sink: Sink | None, leases: ShardLeases | None = None
    ) -> None:
        self.db = db
        self.sink = sink
        self.consumer = StreamConsumer(db, streams, CONSUMER, self.handle, leases=leases)
        self._task: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None

    async def handle(self, record: dict[str, Any], shard_id: str) -> None:
        change = status_change(record, shard_id)
        if change is None:
            return
        await apply_completion(self.db, change)
        if self.sink is not None:
            await self.sink(change)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        self._reporter = asyncio.create_task(self._report_lag())

    async def _report_lag(self, every: float = 60.0) -> None:
        while True:
            await asyncio.sleep(every)
            status = self.status()
            log.info("stream consumer: %d shards, lag %s s", status["shards"], status["lagSeconds"])

    async def _run(self) -> None:
        while True:
            try:
                await self.consumer.run()
                return
            except asyncio.CancelledError:
                raise
            except (Unavailable, *UNREACHABLE_ERRORS):
                # The store is gone for a while (restarting): one line, not a
                # traceback every 5 s; the checkpoints say where to resume.
                log.warning("stream consumer: the store cannot be reached; retrying in 5 s")
                await asyncio.sleep(5)
            except Exception:
                log.exception("stream consumer failed; restarting in 5 s")
                await asyncio.sleep(5)

    async def stop(self) -> None:
        try:
            # A reader held up (Redis gone) is cut off: its batch is read again.
            await asyncio.wait_for(self.consumer.stop(), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("stream consumer: readers did not stop in time; cut off")
        for task in (self._task, self._reporter):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        lag = self.consumer.lag_seconds
        status: dict[str, Any] = {
            "shards": len(self.consumer.shards),
            "lagSeconds": None if lag is None else round(lag, 3),
        }
        leases = self.consumer.leases
        if leases is not None:
            status["worker"] = leases.worker_id
            status["leased"] = sorted(leases.held)
        return status


@asynccontextmanager
async def stream_runtime(
    settings: Settings,
    client: Any,
    sink: Sink | None,
    endpoint_url: str | None = None,
    *,
    leased: bool = False,
) -> AsyncIterator[StreamRuntime]:
    """The stream read in the background; with `leased`, only the shards this
    process holds a lease on (a stream worker among others)."""
    async with open_client(settings, endpoint_url, service="dynamodbstreams") as streams:
        db = Dynamo(client, settings.table_name)
        leases = ShardLeases(db, CONSUMER, settings.stream_lease_seconds) if leased else None
        runtime = StreamRuntime(db, streams, sink, leases)
        runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()
