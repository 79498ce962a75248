"""How much GraphQL work runs at once: an adaptive limit, a short queue, shedding.

Admitting every request under overload makes all of them slow together (each
waits on one event loop and one engine). Instead a bounded number run; more
wait briefly, first come first served, and newest first once the queue stops
draining (its oldest has waited 100 ms: adaptive LIFO), so the ones served are
served fresh; the rest are answered with 503 OVERLOADED and Retry-After, which
costs next to nothing.

The limit adapts as Envoy's adaptive concurrency filter does: now and then it
runs at the floor for a window to learn the latency without queueing (the
"minimum RTT"); then, window by window, it moves the limit by the ratio of
that latency (plus a buffer) to the latency it sees, plus headroom of the
limit's square root. More in flight than the store can serve shows up as
latency, and the limit comes down.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class AdaptiveLimit:
    limit: float = 16
    minimum: int = 8
    maximum: int = 64
    # Latency allowed above the unqueued one before the limit comes down.
    buffer: float = 0.5
    window: int = 50  # samples per decision
    recalibrate_every: float = 30.0  # seconds between minimum-RTT windows
    min_rtt: float | None = None
    _samples: list[float] = field(default_factory=list)
    _busy: bool = False  # a sample of this window ran near the limit
    _next_calibration: float = 0.0

    @property
    def calibrating(self) -> bool:
        return self.min_rtt is None or time.monotonic() >= self._next_calibration

    @property
    def current(self) -> float:
        """What may run now: the floor while the unqueued latency is measured."""
        return self.minimum if self.calibrating else self.limit

    def sample(self, started: float, seconds: float, in_flight: int) -> None:
        """One request's latency; `started` on the monotonic clock."""
        calibrating = self.calibrating
        if calibrating and (started < self._next_calibration or in_flight > self.minimum):
            # It started, or ran beside requests that started, under the limit
            # before the floor: its latency is not the one this window measures.
            return
        self._samples.append(seconds)
        self._busy = self._busy or in_flight >= self.current / 2
        if len(self._samples) < self.window:
            return
        median = statistics.median(self._samples)
        busy, self._samples, self._busy = self._busy, [], False
        if calibrating:
            self.min_rtt = median
            self._next_calibration = time.monotonic() + self.recalibrate_every
            return
        if not busy:
            return  # far below the limit: its latency says nothing about it
        assert self.min_rtt is not None
        # Down by up to half, never up by more than the headroom: a window of
        # quick answers must not double the work in flight at once.
        gradient = max(0.5, min(1.0, self.min_rtt * (1 + self.buffer) / median))
        target = self.limit * gradient + math.sqrt(self.limit)
        self.limit = max(self.minimum, min(self.maximum, target))


@dataclass(eq=False)  # removed from the queue by identity
class Waiter:
    # True: a slot is its; False: it was shed.
    turn: asyncio.Future[bool]
    since: float  # time.monotonic() when it began to wait


@dataclass
class Admission:
    limit: AdaptiveLimit = field(default_factory=AdaptiveLimit)
    # Requests that may wait for a slot, and for how long.
    max_queue: int = 256
    queue_timeout: float = 0.5
    # A queue whose oldest has waited this long is not draining: the newest go
    # first. Kept in order any longer, admitted requests under overload have
    # already waited most of their time before they run.
    newest_first_after: float = 0.1
    in_flight: int = 0
    shed: int = 0
    _waiting: deque[Waiter] = field(default_factory=deque)
    _reported: tuple[float, int] = (float("-inf"), 0)  # when, and the shed count then

    async def acquire(self) -> bool:
        """True with a slot taken (give it back with release), False: shed."""
        if self.in_flight < self.limit.current and not self._waiting:
            self.in_flight += 1
            return True
        if self.max_queue == 0:
            self.shed += 1
            return False
        if len(self._waiting) >= self.max_queue:
            # Full: the oldest waiter gives way, so that the ones served are
            # always the freshest (a full queue shedding arrivals would serve
            # only requests that have waited longest).
            self._waiting.popleft().turn.set_result(False)
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = Waiter(turn, time.monotonic())
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout):
                granted = await asyncio.shield(turn)
        except (TimeoutError, asyncio.CancelledError) as stopped:
            gone = isinstance(stopped, asyncio.CancelledError)  # the client left
            if turn.done():  # decided as the wait ended
                granted = turn.result()
                if gone and granted:
                    self.in_flight -= 1
                    self._hand_over()
            else:
                self._waiting.remove(waiter)
                turn.cancel()
                granted = False
            if gone:
                raise
        if not granted:
            self.shed += 1
        return granted

    def release(self, started: float) -> None:
        """Gives back a slot taken at `started` (time.monotonic()); the newest waiter takes it."""
        self.limit.sample(started, time.monotonic() - started, self.in_flight)
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiting and self.in_flight < self.limit.current:
            # First come, first served while the queue drains; past that it
            # is overloaded and the newest go first (the oldest would time out
            # anyway, and each one served late is a slot spent on a stale answer).
            waited = time.monotonic() - self._waiting[0].since
            overloaded = waited >= self.newest_first_after
            turn = (self._waiting.pop() if overloaded else self._waiting.popleft()).turn
            if not turn.done():
                self.in_flight += 1
                turn.set_result(True)

    def shed_to_report(self, every: float = 10.0) -> int:
        """Requests shed since the last report, once per `every` seconds (else 0)."""
        now = time.monotonic()
        at, count = self._reported
        if now - at < every:
            return 0
        self._reported = (now, self.shed)
        return self.shed - count

    @property
    def queued(self) -> int:
        return len(self._waiting)
