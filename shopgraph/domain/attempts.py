"""Limits on guessing: failed log-ins per email and per client address, and
sign-ups per address, within a window.

The counters are items of the table (one per subject and window, gone by TTL
when the window is over), so a limit holds across processes and restarts. An
email is counted whether or not an account has it, so a limit says nothing
about which emails exist. Once a subject is over its limit every attempt is
refused until the window ends, the right password included: a guesser learns
nothing from the refusals.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from shopgraph.data import entities
from shopgraph.data.codec import Item
from shopgraph.data.dynamo import Dynamo
from shopgraph.errors import TooManyAttempts


@dataclass(frozen=True)
class Limit:
    kind: str  # what is counted, part of each subject's hash
    max_attempts: int
    window_seconds: int


@dataclass(frozen=True)
class Tally:
    """One subject's attempts in the window that holds `now`."""

    limit: Limit
    subject: str
    window: int

    @classmethod
    def of(cls, limit: Limit, value: str, now: float) -> Tally:
        digest = hashlib.sha256(f"{limit.kind}\0{value}".encode()).hexdigest()[:32]
        window = int(now // limit.window_seconds * limit.window_seconds)
        return cls(limit, digest, window)

    @property
    def key(self) -> dict[str, str]:
        return entities.ATTEMPT_COUNTER.key(subject=self.subject, window=self.window)

    @property
    def ends(self) -> int:
        return self.window + self.limit.window_seconds


async def refuse_if_over(
    db: Dynamo, counters: list[Tally], now: float, *, also: Sequence[dict[str, str]] = ()
) -> list[Item | None]:
    """TOO_MANY_ATTEMPTS (with retryAfter, seconds) where any counter is at its limit.

    The counters are read in one strongly consistent BatchGetItem, together
    with the items of the keys in `also` (what the caller reads next); those
    are answered, in order.
    """
    items = await db.batch_get([*(c.key for c in counters), *also], consistent=True)
    over = [
        c
        for c, item in zip(counters, items[: len(counters)], strict=True)
        if item and int(item["attempts"]) >= c.limit.max_attempts
    ]
    if over:
        retry_after = max(1, math.ceil(max(c.ends for c in over) - now))
        raise TooManyAttempts(
            f"Too many attempts; try again in {retry_after} s.", retryAfter=retry_after
        )
    return items[len(counters) :]


async def count(db: Dynamo, counters: list[Tally]) -> None:
    """One more attempt on each counter."""
    await asyncio.gather(
        *(
            db.update(
                c.key,
                "ADD attempts :one SET entityType = :type, #ttl = :ttl",
                names={"#ttl": "ttl"},
                # Kept a window longer than it counts: TTL deletion is late, not early.
                values={
                    ":one": 1,
                    ":type": entities.ATTEMPT_COUNTER.name,
                    ":ttl": c.ends + c.limit.window_seconds,
                },
            )
            for c in counters
        )
    )


@dataclass(frozen=True)
class AttemptLimits:
    """The limits of the settings: failed log-ins per email and per address,
    sign-ups per address."""

    login_per_email: Limit
    per_address: Limit

    @classmethod
    def of(cls, max_failures: int, max_per_address: int, window_seconds: int) -> AttemptLimits:
        return cls(
            Limit("login-email", max_failures, window_seconds),
            Limit("address", max_per_address, window_seconds),
        )

    def for_login(self, email: str, address: str | None, now: float | None = None) -> list[Tally]:
        now = time.time() if now is None else now
        counters = [Tally.of(self.login_per_email, email.strip().lower(), now)]
        if address:
            counters.append(Tally.of(self.per_address, address, now))
        return counters

    def for_sign_up(self, address: str | None, now: float | None = None) -> list[Tally]:
        now = time.time() if now is None else now
        return [Tally.of(self.per_address, address, now)] if address else []
