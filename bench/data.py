"""A fresh table with the demo dataset of `shopgraph.data.seed`, and dropping it again."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from shopgraph.data.dynamo import Dynamo, open_client
from shopgraph.data.seed import SeedOptions, seed
from shopgraph.data.table import ensure_table
from shopgraph.settings import Settings


def new_table_name(prefix: str = "shopgraph-bench") -> str:
    """A name no earlier run used: a run never reads another run's leftovers."""
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Loaded:
    items: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "items_per_second": round(self.items_per_second, 1),
        }


async def _create_and_seed(settings: Settings, endpoint: str, options: SeedOptions) -> int:
    async with open_client(settings, endpoint) as client:
        await ensure_table(client, settings.table_name)
        return await seed(Dynamo(client, settings.table_name), options, progress=False)


def load_dataset(settings: Settings, endpoint: str, options: SeedOptions) -> Loaded:
    """Creates settings.table_name and seeds it; prints how long that took."""
    print("loading the demo dataset ...", flush=True)
    started = time.perf_counter()
    items = asyncio.run(_create_and_seed(settings, endpoint, options))
    loaded = Loaded(items, time.perf_counter() - started)
    print(
        f"loaded {items} items in {loaded.seconds:.1f} s ({loaded.items_per_second:.0f} items/s)\n",
        flush=True,
    )
    return loaded


async def _delete_table(settings: Settings, endpoint: str) -> None:
    async with open_client(settings, endpoint) as client:
        await client.delete_table(TableName=settings.table_name)


def drop_table(settings: Settings, endpoint: str) -> None:
    try:
        # One attempt: when the engine is gone already, retrying only delays the exit.
        asyncio.run(_delete_table(settings.with_(dynamodb_max_attempts=1), endpoint))
    except Exception as exc:  # best effort: the engine may be gone already
        print(f"note: could not delete table {settings.table_name}: {exc}", file=sys.stderr)
