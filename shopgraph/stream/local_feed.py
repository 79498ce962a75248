"""Changes this process reads from the table's stream itself (no Redis).

Each change is numbered in order of arrival, in the shape of a Redis Streams
entry id (this process's start, in milliseconds, and a count), and the last
few thousand are kept so that a subscriber that reconnects can resume after
the last one it got.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace

from shopgraph.stream.broker import Broker, HistoryGone
from shopgraph.stream.events import RecentIds, parse_position
from shopgraph.stream.records import StatusChange


class LocalFeed:
    def __init__(self, broker: Broker, keep: int) -> None:
        self.broker = broker
        self._epoch = int(time.time() * 1000)
        self._count = 0
        self._kept: deque[StatusChange] = deque(maxlen=keep)
        self._seen = RecentIds()
        broker.history = self

    def publish(self, change: StatusChange) -> None:
        if not self._seen.first_time(change.event_id):
            return
        self._count += 1
        # Kept without the record's raw image: only the Redis publisher passes
        # it on, and it was over half of each kept change's memory.
        numbered = replace(change, position=f"{self._epoch}-{self._count}", image={})
        self._kept.append(numbered)
        self.broker.publish(numbered)

    async def after(self, position: str, limit: int) -> list[StatusChange]:
        key = parse_position(position)
        if key is None or key[0] != self._epoch or key[1] > self._count:
            raise HistoryGone(position)  # another process's, or a restarted one's
        oldest = self._count - len(self._kept) + 1
        if key[1] < oldest - 1:
            raise HistoryGone(position)  # what followed it is no longer kept
        rest = list(self._kept)[key[1] - oldest + 1 :]
        if len(rest) > limit:
            raise HistoryGone(position)
        return rest

    def status(self) -> dict[str, object]:
        return {"source": "stream", "events": self._count}
