"""How requests are paced: a closed loop (each connection sends its next request
when its answer is in, as wrk does) or an open loop (requests start on a
schedule, answered or not). Both time every request and keep its result.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# Request n's coroutine; n counts up from 0 across the run.
Send = Callable[[int], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class Timed(Generic[T]):
    # time.perf_counter() seconds: when the request was due (sent, in a closed
    # loop) and when its answer was in.
    started: float
    ended: float
    result: T

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class Run(Generic[T]):
    began: float
    seconds: float = 0.0
    done: list[Timed[T]] = field(default_factory=list)
    # Closed loop: requests still out when the time was up, cancelled then.
    cut: int = 0
    # Open loop: requests due while --max-outstanding were out, never started.
    not_started: list[float] = field(default_factory=list)

    def within(self, seconds: float) -> list[Timed[T]]:
        """The requests answered in the first `seconds` of the run."""
        end = self.began + seconds
        return [t for t in self.done if t.ended <= end]


async def closed_loop(connections: int, seconds: float, send: Send[T]) -> Run[T]:
    """`connections` workers, each sending request after request for `seconds`;
    what is still out then is cancelled (its connection closed) and counted."""
    run: Run[T] = Run(time.perf_counter())
    numbers = iter(range(1 << 62))
    busy = 0

    async def worker() -> None:
        nonlocal busy
        for n in numbers:  # shared: each number goes to one worker
            started = time.perf_counter()
            busy += 1
            result = await send(n)
            busy -= 1
            run.done.append(Timed(started, time.perf_counter(), result))

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    try:
        # The workers never end on their own: the first to fail ends the run.
        done, _ = await asyncio.wait(workers, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        run.cut = busy
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    run.seconds = time.perf_counter() - run.began
    return run


async def open_loop(
    rate: float,
    seconds: float,
    max_outstanding: int,
    send: Send[T],
    poisson: bool = False,
    rng: random.Random | None = None,
    run: Run[T] | None = None,
) -> Run[T]:
    """Starts request n when it is due, `rate` a second (evenly spaced, or as a
    Poisson process), whether or not earlier ones have been answered; a request's
    time runs from when it was due, so a stall shows in every request it delayed.
    At most `max_outstanding` are out at once: a request due beyond that is not
    started and is recorded as such, so a stalled server cannot grow this client
    without bound. `run`, when given, is filled as it goes (for a caller that
    reports on it meanwhile) and its `began` is the schedule's origin."""
    run = run if run is not None else Run(time.perf_counter())
    end = run.began + seconds
    draw = rng or random.Random(1)
    outstanding: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    async def one(n: int, due: float) -> None:
        result = await send(n)
        run.done.append(Timed(due, time.perf_counter(), result))

    def finished(task: asyncio.Task[None]) -> None:
        outstanding.discard(task)
        if not task.cancelled() and (failure := task.exception()) is not None:
            failures.append(failure)

    due, n = run.began, 0
    try:
        while due < end and not failures:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # Behind schedule (the client's own CPU, say), the overdue ones start at once.
            if len(outstanding) >= max_outstanding:
                run.not_started.append(due)
            else:
                task = asyncio.create_task(one(n, due))
                outstanding.add(task)
                task.add_done_callback(finished)
            n += 1
            due += draw.expovariate(rate) if poisson else 1 / rate
        # The last ones may answer: they were due within the run.
        if outstanding:
            await asyncio.wait(set(outstanding))
        if failures:  # a bug in `send`, not an error answer: it ends the run
            raise failures[0]
    finally:
        for task in list(outstanding):
            task.cancel()
        await asyncio.gather(*outstanding, return_exceptions=True)
    run.seconds = time.perf_counter() - run.began
    return run
