"""The stream consumer as the server runs it: salesStats and subscriptions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from shopgraph.data.dynamo import UNREACHABLE_ERRORS, Dynamo, open_client
from shopgraph.errors import Unavailable
from shopgraph.settings import Settings
from shopgraph.stream.broker import Broker
from shopgraph.stream.consumer import StreamConsumer
from shopgraph.stream.records import status_change
from shopgraph.stream.sales import CONSUMER, apply_completion

log = logging.getLogger("shopgraph.stream")


class StreamRuntime:
    def __init__(self, db: Dynamo, streams: Any, broker: Broker) -> None:
        self.broker = broker
        self.db = db
        self.consumer = StreamConsumer(db, streams, CONSUMER, self.handle)
        self._task: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None

    async def handle(self, record: dict[str, Any]) -> None:
        change = status_change(record)
        if change is None:
            return
        await apply_completion(self.db, change)
        # Each subscriber takes only changes made since it subscribed, so what
        # is read again after a restart reaches nobody twice.
        self.broker.publish(change)

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
        await self.consumer.stop()
        for task in (self._task, self._reporter):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        lag = self.consumer.lag_seconds
        return {
            "shards": len(self.consumer.shards),
            "lagSeconds": None if lag is None else round(lag, 3),
        }


@asynccontextmanager
async def stream_runtime(
    settings: Settings, client: Any, broker: Broker, endpoint_url: str | None = None
) -> AsyncIterator[StreamRuntime]:
    async with open_client(settings, endpoint_url, service="dynamodbstreams") as streams:
        runtime = StreamRuntime(Dynamo(client, settings.table_name), streams, broker)
        runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()
