"""Whether the server can answer from DynamoDB: what /readyz reports.

The engine is asked each time (one GetItem of a key no item has, no retries,
a short timeout), so /readyz turns 503 the moment the engine goes or the table
is missing, and 200 once it is back, without a restart. Not DescribeTable:
DynamoDB Local counts the table's items for it, 0.76 s at 400,000 items and
several seconds at 4 million, which a probe's timeout refused and which every
probe cost the engine. A server started while its engine cannot be reached
serves anyway and prepares the table (create, seed) as soon as it can, through
a client that waits for DynamoDB's table calls as long as they take.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shopgraph.data.codec import key_attributes
from shopgraph.data.dynamo import UNREACHABLE_ERRORS, open_client, table_admin_settings
from shopgraph.data.table import TABLE_INDEX
from shopgraph.errors import Unavailable
from shopgraph.settings import Settings

log = logging.getLogger("shopgraph.readiness")

# Creates the table (and seeds it, when asked) through the client given.
Prepare = Callable[[Any], Awaitable[None]]
PROBE_SECONDS = 1.0
# A key in no entity's shape: the probe reads nothing, whatever the table holds.
PROBE_KEY = key_attributes({TABLE_INDEX.pk: "READINESS-PROBE", TABLE_INDEX.sk: "-"})
RETRY_FIRST, RETRY_MAX = 0.5, 5.0


@dataclass(frozen=True)
class Probe:
    ready: bool
    reason: str | None = None


class Readiness:
    def __init__(
        self,
        settings: Settings,
        probe_client: Any,
        prepare: Prepare | None = None,
        prepare_client: Any = None,
    ) -> None:
        self.settings = settings
        self.probe_client = probe_client  # does not retry: a probe answers at once
        self.prepared = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if prepare is None:
            self.prepared.set()
        else:
            self._task = asyncio.create_task(self._prepare_when_reachable(prepare, prepare_client))

    async def probe(self) -> Probe:
        if not self.prepared.is_set():
            return Probe(False, "the table is not prepared yet: the store cannot be reached")
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                await self.probe_client.get_item(TableName=self.settings.table_name, Key=PROBE_KEY)
        except TimeoutError:
            return Probe(False, "the store did not answer in time")
        except ClientError as exc:
            return Probe(False, exc.response.get("Error", {}).get("Code") or "ClientError")
        except UNREACHABLE_ERRORS:
            return Probe(False, "the store cannot be reached")
        return Probe(True)

    async def _prepare_when_reachable(self, prepare: Prepare, client: Any) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                await prepare(client)
            except (Unavailable, TimeoutError, *UNREACHABLE_ERRORS):
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            except Exception:
                # Not the engine's absence (a table of another shape): retrying
                # cannot mend it; /readyz stays 503 and the log says why.
                log.exception("preparing table %s failed", self.settings.table_name)
                return
            log.info("the store answers: table %s is ready", self.settings.table_name)
            self.prepared.set()
            return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@asynccontextmanager
async def readiness(
    settings: Settings, endpoint_url: str | None, prepare: Prepare | None
) -> AsyncIterator[Readiness]:
    """Readiness probed through a client of its own; prepare, when given, runs
    through another that waits for DynamoDB's table calls (it describes the table)."""
    probe_settings = settings.with_(
        dynamodb_max_attempts=1, dynamodb_connect_timeout=0.5, dynamodb_read_timeout=PROBE_SECONDS
    )
    async with AsyncExitStack() as stack:
        probe_client = await stack.enter_async_context(open_client(probe_settings, endpoint_url))
        prepare_client = None
        if prepare is not None:
            prepare_client = await stack.enter_async_context(
                open_client(table_admin_settings(settings), endpoint_url)
            )
        state = Readiness(settings, probe_client, prepare, prepare_client)
        stack.push_async_callback(state.close)
        yield state
