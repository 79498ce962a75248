"""Reads the table's DynamoDB stream, shard by shard, with checkpoints.

Parents are read before their children; a closed shard is followed to its
successors; empty reads back off; each shard's position is written to the table
after every batch, so a restart resumes where the last batch ended (records
after it are read again: their effects are idempotent). With leases (stream
workers), only the shards whose lease this process holds are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shopgraph.data import entities
from shopgraph.data.dynamo import UNREACHABLE_ERRORS, ConditionFailed, Dynamo, backoff_delay
from shopgraph.errors import Unavailable
from shopgraph.stream.leases import ShardLeases

log = logging.getLogger("shopgraph.stream")

# Called with each record and the id of the shard it came from, in order.
RecordHandler = Callable[[dict[str, Any], str], Awaitable[None]]
_BACK_OFF = frozenset({"LimitExceededException", "ThrottlingException", "InternalServerError"})


def _is_checkpoint(record: dict[str, Any]) -> bool:
    image = record.get("dynamodb", {}).get("NewImage") or {}
    return image.get("entityType", {}).get("S") == entities.STREAM_CHECKPOINT.name


@dataclass
class ShardState:
    sequence_number: str | None = None
    finished: bool = False
    read: bool = False  # at least one GetRecords answered
    # ApproximateCreationDateTime of the last record of the last batch that had
    # records; None once a read comes back empty, at the shard's tip.
    behind_since: float | None = None


@dataclass
class StreamConsumer:
    db: Dynamo
    streams: Any  # an aiobotocore dynamodbstreams client
    consumer: str
    handle: RecordHandler
    discovery_interval: float = 5.0
    # An empty read waits idle_poll, then a little longer each time, up to
    # idle_poll_max: a change reaches subscribers within about that, and a
    # quiet shard costs at most 1 / idle_poll_max GetRecords a second per
    # reader (DynamoDB allows 5 a second per shard, and two readers).
    idle_poll: float = 0.1
    idle_poll_max: float = 0.5
    # None: read every shard (one process alone); else only those leased here.
    leases: ShardLeases | None = None
    shards: dict[str, ShardState] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def lag_seconds(self) -> float | None:
        """How far behind the slowest open shard is: the age of the last record it
        read, or 0 once it reads nothing new (the iterator age DynamoDB reports).
        None until a shard has been read."""
        open_shards = [s for s in self.shards.values() if s.read and not s.finished]
        if not open_shards:
            return None
        now = time.time()
        return max(
            max(0.0, now - s.behind_since) if s.behind_since is not None else 0.0
            for s in open_shards
        )

    async def stream_arn(self) -> str:
        table = (await self.db.client.describe_table(TableName=self.db.table_name))["Table"]
        arn = table.get("LatestStreamArn")
        if not arn:
            raise RuntimeError(f"table {self.db.table_name} has no stream")
        return arn

    async def run(self) -> None:
        arn = await self.stream_arn()
        log.info("stream consumer %s reading %s", self.consumer, arn)
        while not self._stopping.is_set():
            try:
                await self._discover(arn)
            except ClientError as exc:
                log.warning(
                    "stream discovery failed: %s", exc.response.get("Error", {}).get("Code")
                )
            except (Unavailable, *UNREACHABLE_ERRORS):
                log.warning("stream discovery: the store cannot be reached; trying again")
            interval = self.discovery_interval
            if self.leases is not None:
                interval = min(interval, self.leases.renew_interval)
            await self._pause(interval)

    async def stop(self) -> None:
        self._stopping.set()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.leases is not None:
            # After the last checkpoints: whoever takes the shards on starts there.
            with contextlib.suppress(Unavailable, ClientError, *UNREACHABLE_ERRORS):
                await self.leases.release_all()

    async def _discover(self, arn: str) -> None:
        shards: list[dict[str, Any]] = []
        params: dict[str, Any] = {"StreamArn": arn}
        while True:
            description = (await self.streams.describe_stream(**params))["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            params["ExclusiveStartShardId"] = last
        known = {s["ShardId"] for s in shards}
        readable = []
        for shard in shards:
            shard_id = shard["ShardId"]
            if self._finished(shard_id):
                continue
            parent = shard.get("ParentShardId")
            if parent is None or parent not in known or self._finished(parent):
                readable.append(shard_id)
        if self.leases is not None:
            held = await self.leases.refresh(readable)
            readable = [shard_id for shard_id in readable if shard_id in held]
        for shard_id in readable:
            if self._reader_gone(shard_id):
                self._tasks[shard_id] = asyncio.create_task(self._read(arn, shard_id))

    def _reader_gone(self, shard_id: str) -> bool:
        """Whether the shard has no reader: never had one, or its reader stopped
        on an error (the store went away); it is then read again from where it
        stopped, so nothing is lost and nothing handled twice."""
        task = self._tasks.get(shard_id)
        if task is None:
            return True
        if not task.done():
            return False
        failure = None if task.cancelled() else task.exception()
        if isinstance(failure, (Unavailable, *UNREACHABLE_ERRORS)):
            log.warning("stream shard %s: the store could not be reached; reading on", shard_id)
        elif failure is not None:
            log.error("stream shard %s failed; reading on", shard_id, exc_info=failure)
        return True

    def _finished(self, shard_id: str) -> bool:
        state = self.shards.get(shard_id)
        return bool(state and state.finished)

    async def _iterator(self, arn: str, shard_id: str, after: str | None) -> str | None:
        params: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        if after:
            params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            params["ShardIteratorType"] = "TRIM_HORIZON"
        return (await self.streams.get_shard_iterator(**params)).get("ShardIterator")

    async def _read(self, arn: str, shard_id: str) -> None:
        state = self.shards.setdefault(shard_id, ShardState())
        if state.sequence_number is None:
            # Where an earlier process got to; a reader started again in this
            # process goes on from what it handled, checkpointed or not.
            state.sequence_number = await self.load_checkpoint(shard_id)
        iterator = await self._iterator(arn, shard_id, state.sequence_number)
        idle = 0
        while iterator and not self._stopping.is_set():
            if self.leases is not None and not self.leases.holds(shard_id):
                # Another worker reads it now, from its checkpoint; should the
                # lease come back, reading starts again from the checkpoint.
                state.sequence_number = None
                return
            try:
                response = await self.streams.get_records(ShardIterator=iterator, Limit=1000)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ExpiredIteratorException":
                    iterator = await self._iterator(arn, shard_id, state.sequence_number)
                    continue
                if code == "TrimmedDataAccessException":
                    iterator = await self._iterator(arn, shard_id, None)
                    continue
                if code in _BACK_OFF:
                    idle += 1
                    await self._pause(backoff_delay(idle, base=0.2, cap=5.0))
                    continue
                raise
            records = response.get("Records", [])
            own_checkpoints = 0
            for record in records:
                if _is_checkpoint(record):
                    own_checkpoints += 1
                await self.handle(record, shard_id)
                state.sequence_number = record["dynamodb"]["SequenceNumber"]
                created = record["dynamodb"].get("ApproximateCreationDateTime")
                if created is not None:
                    state.behind_since = (
                        created.timestamp() if hasattr(created, "timestamp") else float(created)
                    )
            state.read = True
            if not records:
                state.behind_since = None
            # Writing a checkpoint is itself a stream record: a batch of nothing
            # but checkpoints is not checkpointed again, or the two would feed
            # each other forever.
            if len(records) > own_checkpoints:
                await self.save_checkpoint(shard_id, state.sequence_number)
            iterator = response.get("NextShardIterator")
            if records:
                idle = 0
            else:
                idle += 1
                await self._pause(min(self.idle_poll * idle, self.idle_poll_max))
        if iterator is None:
            state.finished = True
            log.info("stream shard %s finished", shard_id)
            if self.leases is not None:
                await self.leases.finish(shard_id)

    async def _pause(self, seconds: float) -> None:
        """Sleeps, but wakes at once when the consumer is told to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def load_checkpoint(self, shard_id: str) -> str | None:
        item = await self.db.get(
            entities.STREAM_CHECKPOINT.key(consumer=self.consumer, shard_id=shard_id),
            consistent=True,
        )
        return str(item["sequenceNumber"]) if item else None

    async def save_checkpoint(self, shard_id: str, sequence_number: str | None) -> None:
        if sequence_number is None:
            return
        key = entities.STREAM_CHECKPOINT.key(consumer=self.consumer, shard_id=shard_id)
        # Only forward: two processes may read the same shard (a checkpoint
        # already further on stays). The sequence number is kept as the engine
        # wrote it (its zero padding matters to some engines); `position` orders them.
        with contextlib.suppress(ConditionFailed):
            await self.db.update(
                key,
                "SET sequenceNumber = :seq, #position = :pos, entityType = :type, updatedAt = :now",
                condition="attribute_not_exists(#position) OR #position < :pos",
                names={"#position": "position"},
                values={
                    ":seq": sequence_number,
                    ":pos": int(sequence_number),
                    ":type": entities.STREAM_CHECKPOINT.name,
                    ":now": int(time.time()),
                },
            )
