"""Stream workers share a stream's shards by lease, so each shard has one reader.

A lease is an item per shard (`LEASE#<consumer>`, `SHARD#<shardId>`) naming its
owner and a counter the owner counts up every third of the lease time. Another
worker takes a lease over when its counter has stood still for the whole lease
time as that worker sees it (the way the Kinesis Client Library does it): no
two clocks are compared. Every change of owner is a conditional write on the
counter it saw, so of two workers reaching for one lease, one gets it.

Workers also count up a heartbeat item of their own; the shards are shared out
evenly among the workers whose heartbeat moves. A worker holding fewer than
its share takes free or expired leases first, then, one per round, a lease of
the worker holding the most: that worker sees its renewal fail and stops
reading the shard within a third of the lease time, so a shard never has more
than two readers, and briefly at that. A worker that stops gives its leases
back at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from shopgraph.data import entities
from shopgraph.data.dynamo import ConditionFailed, Dynamo

log = logging.getLogger("shopgraph.stream")

HEARTBEAT_TTL_SECONDS = 24 * 3600


@dataclass
class _Seen:
    """What this worker last saw of a lease or heartbeat, and since when."""

    owner: str | None
    counter: int
    since: float  # time.monotonic() when the counter last moved


@dataclass
class _Held:
    counter: int
    renewed: float  # time.monotonic() of the last renewal that took


class ShardLeases:
    def __init__(
        self, db: Dynamo, consumer: str, lease_seconds: float, worker_id: str | None = None
    ) -> None:
        self.db = db
        self.consumer = consumer
        self.lease_seconds = lease_seconds
        self.worker_id = worker_id or secrets.token_hex(6)
        self.held: dict[str, _Held] = {}
        self._leases: dict[str, _Seen] = {}
        self._workers: dict[str, _Seen] = {}
        self._finished: set[str] = set()
        self._heartbeat = 0

    @property
    def renew_interval(self) -> float:
        return self.lease_seconds / 3

    def holds(self, shard_id: str) -> bool:
        """Whether this worker may go on reading the shard: it holds the lease,
        renewed within the lease time (past it another worker may have it)."""
        held = self.held.get(shard_id)
        return held is not None and time.monotonic() - held.renewed < self.lease_seconds

    async def refresh(self, readable: Iterable[str]) -> set[str]:
        """One round: beat, renew what is held, take this worker's share of the
        readable shards; the shards it holds after the round."""
        now = time.monotonic()
        await self._beat()
        self._observe(await self._items(), now)
        for shard_id in list(self.held):
            await self._renew(shard_id, now)
        open_shards = [s for s in readable if s not in self._finished]
        live = {self.worker_id} | {
            worker
            for worker, seen in self._workers.items()
            if now - seen.since < self.lease_seconds
        }
        share = math.ceil(len(open_shards) / len(live)) if open_shards else 0
        for shard_id in open_shards:
            if len(self.held) >= share:
                break
            if shard_id not in self.held and self._is_free(shard_id, now):
                await self._take(shard_id)
        if len(self.held) < share:
            await self._steal_one(open_shards, share)
        return set(self.held)

    async def finish(self, shard_id: str) -> None:
        """The shard is closed and read to its end: nobody need read it again."""
        self._finished.add(shard_id)
        held = self.held.pop(shard_id, None)
        if held is None:
            return
        # Taken meanwhile: its new owner finds the shard finished too.
        with contextlib.suppress(ConditionFailed):
            await self._write(shard_id, held.counter + 1, held.counter, self.worker_id, True)

    async def release_all(self) -> None:
        """Gives every lease back, so that another worker takes them at once."""
        for shard_id, held in list(self.held.items()):
            with contextlib.suppress(ConditionFailed):
                await self._write(shard_id, held.counter + 1, held.counter, None, None)
        self.held.clear()
        await self.db.delete(
            entities.STREAM_WORKER.key(consumer=self.consumer, worker_id=self.worker_id)
        )

    # ------------------------------------------------------------------ internals

    async def _items(self) -> list[dict[str, object]]:
        partition = entities.SHARD_LEASE.partition(consumer=self.consumer)
        return await self.db.query_all(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
            ConsistentRead=True,
        )

    def _observe(self, items: list[dict[str, object]], now: float) -> None:
        for item in items:
            if item.get("entityType") == entities.SHARD_LEASE.name:
                lease = entities.SHARD_LEASE.from_item(item)
                if lease.finished:
                    self._finished.add(lease.shard_id)
                _note(self._leases, lease.shard_id, lease.owner, lease.counter, now)
            elif item.get("entityType") == entities.STREAM_WORKER.name:
                worker = entities.STREAM_WORKER.from_item(item)
                if worker.worker_id != self.worker_id:
                    _note(self._workers, worker.worker_id, None, worker.counter, now)

    def _is_free(self, shard_id: str, now: float) -> bool:
        seen = self._leases.get(shard_id)
        return seen is None or seen.owner is None or now - seen.since >= self.lease_seconds

    async def _beat(self) -> None:
        self._heartbeat += 1
        beat = entities.StreamWorker(
            self.consumer,
            self.worker_id,
            self._heartbeat,
            int(time.time()) + HEARTBEAT_TTL_SECONDS,
        )
        await self.db.put(entities.STREAM_WORKER.item(beat))

    async def _renew(self, shard_id: str, now: float) -> None:
        held = self.held[shard_id]
        try:
            await self._write(shard_id, held.counter + 1, held.counter, self.worker_id, None)
        except ConditionFailed:
            log.info("stream worker %s: shard %s was taken over", self.worker_id, shard_id)
            del self.held[shard_id]
            return
        self.held[shard_id] = _Held(held.counter + 1, now)

    async def _take(self, shard_id: str) -> bool:
        seen = self._leases.get(shard_id)
        counter = seen.counter if seen else None
        try:
            await self._write(shard_id, (counter or 0) + 1, counter, self.worker_id, None)
        except ConditionFailed:
            return False  # another worker was quicker
        self.held[shard_id] = _Held((counter or 0) + 1, time.monotonic())
        previous = seen.owner if seen else None
        log.info(
            "stream worker %s: took shard %s%s",
            self.worker_id,
            shard_id,
            f" over from {previous}" if previous and previous != self.worker_id else "",
        )
        return True

    async def _steal_one(self, open_shards: list[str], share: int) -> None:
        """Takes one lease from the worker holding the most, where it holds
        more than its share."""
        by_owner: dict[str, list[str]] = {}
        for shard_id in open_shards:
            seen = self._leases.get(shard_id)
            if seen and seen.owner and seen.owner != self.worker_id:
                by_owner.setdefault(seen.owner, []).append(shard_id)
        if not by_owner:
            return
        shards = max(by_owner.values(), key=len)
        if len(shards) > share:
            await self._take(shards[0])

    async def _write(
        self,
        shard_id: str,
        counter: int,
        expected: int | None,
        owner: str | None,
        finished: bool | None,
    ) -> None:
        """The lease as given, where its counter is still `expected` (None: no lease yet)."""
        lease = entities.ShardLease(self.consumer, shard_id, counter, owner, finished)
        condition = "attribute_not_exists(PK)" if expected is None else "#counter = :expected"
        await self.db.put(
            entities.SHARD_LEASE.item(lease),
            condition=condition,
            names=None if expected is None else {"#counter": "counter"},
            values=None if expected is None else {":expected": expected},
        )


def _note(seen: dict[str, _Seen], key: str, owner: str | None, counter: int, now: float) -> None:
    before = seen.get(key)
    if before is None or before.counter != counter or before.owner != owner:
        seen[key] = _Seen(owner, counter, now)
