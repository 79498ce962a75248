"""The Redis stream of change events: stream workers add, serve processes read.

Adding is one script, atomic in Redis: an event is added only where its
sequence number is past the last one added from its shard. A record read
again (after a takeover, or by a second reader while a lease moves) is not
added twice, and each shard's events stay in order. The stream is capped
(`XADD MAXLEN ~`): what it keeps is how far back a reader can catch up.

A serve process reads it with `XREAD` from the last entry it saw, so after a
lost connection it goes on where it was. Where that entry is gone when it
comes back (Redis restarted without its data, or trimmed past it), changes may
have been missed: its subscribers are told so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shopgraph.stream import events
from shopgraph.stream.broker import Broker, HistoryGone
from shopgraph.stream.records import StatusChange

log = logging.getLogger("shopgraph.stream")

# Sequence numbers are decimal strings of up to 40 digits: padded, they
# compare as numbers when Redis compares them as strings.
_SEQUENCE_WIDTH = 48
_ADD_ONCE = """
local last = redis.call('HGET', KEYS[2], ARGV[1])
if last and last >= ARGV[2] then
  return false
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return id
"""
READ_BLOCK_MS = 5000
READ_COUNT = 1000
UNREACHABLE = (RedisError, OSError, TimeoutError)


def connect(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_keepalive=True,
        health_check_interval=30,
    )


def _backoff(attempt: int) -> float:
    return float(min(2.0, 0.05 * 2**attempt))


class RedisPublisher:
    """Adds a stream worker's changes to the Redis stream, each once."""

    def __init__(self, client: aioredis.Redis, stream: str, maxlen: int) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen
        self._add_once = client.register_script(_ADD_ONCE)

    async def publish(self, change: StatusChange) -> str | None:
        """The new entry's id, or None where the change was added before.
        While Redis cannot be reached it waits and tries again: the shard's
        reading waits with it, so nothing is checkpointed past an unsent change."""
        fields = events.encode(change)
        args: list[Any] = [
            change.shard_id,
            change.sequence_number.zfill(_SEQUENCE_WIDTH),
            self.maxlen,
        ]
        for name, value in fields.items():
            args.extend((name, value))
        attempt = 0
        while True:
            try:
                added = await self._add_once(keys=[self.stream, f"{self.stream}:added"], args=args)
                if attempt:
                    log.info("redis answers again: change events are published")
                return str(added) if added else None
            except UNREACHABLE as exc:
                if attempt == 0:
                    log.warning("redis cannot be reached (%s); holding change events", exc)
                await asyncio.sleep(_backoff(attempt))
                attempt += 1


class RedisFeed:
    """Reads the Redis stream into this process's broker, and answers a
    resuming subscriber from the stream's history."""

    def __init__(self, client: aioredis.Redis, stream: str, broker: Broker) -> None:
        self.client = client
        self.stream = stream
        self.broker = broker
        broker.history = self
        self.last_id: str | None = None
        self.connected = False
        self.delivered = 0
        self._server_run: str | None = None
        self._seen = events.RecentIds()

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
                attempt = 0
                while True:
                    await self._read()
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                if self.connected or attempt == 0:
                    log.warning("redis cannot be reached (%s); reconnecting", exc)
                self.connected = False
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    def status(self) -> dict[str, object]:
        return {
            "source": "redis",
            "connected": self.connected,
            "lastEventId": self.last_id,
            "events": self.delivered,
        }

    async def after(self, position: str, limit: int) -> list[StatusChange]:
        try:
            if not await self.client.xrange(self.stream, min=position, max=position):
                raise HistoryGone(position)
            entries = await self.client.xrange(
                self.stream, min=f"({position}", max="+", count=limit + 1
            )
        except RedisError as exc:
            raise HistoryGone(position) from exc
        if len(entries) > limit:
            raise HistoryGone(position)
        return [events.decode(fields, entry_id) for entry_id, fields in entries]

    async def _connect(self) -> None:
        server_run = (await self.client.info("server"))["run_id"]
        if self.last_id is None:
            # From now on: a subscriber takes only what happens after it subscribed.
            newest = await self.client.xrevrange(self.stream, count=1)
            self.last_id = newest[0][0] if newest else "0-0"
        elif self.last_id != "0-0" and not await self.client.xrange(
            self.stream, min=self.last_id, max=self.last_id
        ):
            # What followed the last entry seen may be gone with it.
            log.warning(
                "redis no longer holds change event %s (restarted without its data, or "
                "trimmed); telling subscribers that changes may have been missed",
                self.last_id,
            )
            self.broker.interrupt(
                "Live updates were interrupted and changes may have been missed; subscribe again"
            )
            newest = await self.client.xrevrange(self.stream, count=1)
            self.last_id = newest[0][0] if newest else "0-0"
        if self._server_run is not None and server_run != self._server_run:
            log.info("redis restarted; change events go on from %s", self.last_id)
        self._server_run = server_run
        if not self.connected:
            log.info("reading change events from redis stream %s", self.stream)
        self.connected = True

    async def _read(self) -> None:
        assert self.last_id is not None
        # A stalled server must not hold the read forever.
        async with asyncio.timeout(READ_BLOCK_MS / 1000 + 5):
            reply = await self.client.xread(
                {self.stream: self.last_id}, count=READ_COUNT, block=READ_BLOCK_MS
            )
        streams = reply.items() if isinstance(reply, dict) else reply or []
        for _, entries in streams:
            for entry in entries:
                entry_id, fields = entry[0], entry[1]
                self.last_id = entry_id
                if self._seen.first_time(fields["id"]):
                    self.delivered += 1
                    self.broker.publish(events.decode(fields, entry_id))
