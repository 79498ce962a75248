"""Admission: a bounded amount of GraphQL work at once; the excess is told to come back.

The engine is slowed by the fault proxy so that a request holds its slot
while others arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shopgraph.server.admission import AdaptiveLimit, Admission
from shopgraph.settings import Settings
from tests.conftest import Api
from tests.faultproxy import Fault, FaultProxy, Rule

CATEGORY = '{ productsByCategory(category: "books", first: 5) { nodes { id } } }'


@pytest.fixture
async def slow_proxy(dynamo_endpoint: str) -> AsyncIterator[FaultProxy]:
    """Every Query takes a second."""
    async with FaultProxy(dynamo_endpoint) as proxy:
        proxy.add(Rule(Fault.LATENCY, operations=frozenset({"Query"}), latency=1.0))
        yield proxy


async def post(api: Api, query: str) -> tuple[int, Any, dict[str, str]]:
    response = await api.post({"query": query})
    return response.status, await response.json(), dict(response.headers)


async def test_excess_is_shed_at_once_with_503_retry_after_and_overloaded(
    start_api: Any, slow_proxy: FaultProxy
) -> None:
    api: Api = await start_api(endpoint_url=slow_proxy.url, max_in_flight=1, admission_queue=0)
    slow = asyncio.create_task(post(api, CATEGORY))
    await asyncio.sleep(0.3)  # it holds the one slot, waiting on the engine

    started = time.monotonic()
    status, body, headers = await post(api, CATEGORY)
    assert time.monotonic() - started < 0.5
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert body == {
        "errors": [
            {
                "message": "The server is overloaded; retry in 1 s.",
                "extensions": {"code": "OVERLOADED"},
            }
        ]
    }
    # Probes and metrics are never shed.
    assert (await api.http.get("/healthz")).status == 200
    assert (await api.http.get("/readyz")).status == 200
    metrics = await (await api.http.get("/metrics")).text()
    assert "shopgraph_shed 1.0" in metrics

    status, body, _ = await slow
    assert status == 200 and not body.get("errors"), body
    # The slot is free again: the next request is served.
    status, body, _ = await post(api, "{ __typename }")
    assert status == 200 and body["data"] == {"__typename": "Query"}


async def test_a_burst_within_the_queue_waits_its_turn_and_is_served(
    start_api: Any, slow_proxy: FaultProxy
) -> None:
    api: Api = await start_api(
        endpoint_url=slow_proxy.url, max_in_flight=1, admission_queue=4, admission_queue_timeout=10
    )
    answers = await asyncio.gather(*(post(api, CATEGORY) for _ in range(3)))
    for status, body, _ in answers:
        assert status == 200 and not body.get("errors"), body


async def test_a_wait_longer_than_the_queue_timeout_is_shed(
    start_api: Any, slow_proxy: FaultProxy
) -> None:
    api: Api = await start_api(
        endpoint_url=slow_proxy.url, max_in_flight=1, admission_queue=4, admission_queue_timeout=0.2
    )
    slow = asyncio.create_task(post(api, CATEGORY))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    status, body, _ = await post(api, CATEGORY)
    waited = time.monotonic() - started
    # Shed when its wait ran out, before the slot came free (a 200 otherwise).
    assert status == 503, body
    assert waited > 0.15
    assert (await slow)[0] == 200


def test_a_queue_timeout_that_leaves_no_time_to_run_is_refused_at_start() -> None:
    defaults = Settings.from_env({})
    assert defaults.admission_queue_timeout < defaults.request_deadline
    with pytest.raises(SystemExit, match="must be less than SHOPGRAPH_REQUEST_DEADLINE"):
        Settings.from_env(
            {"SHOPGRAPH_ADMISSION_QUEUE_TIMEOUT": "5", "SHOPGRAPH_REQUEST_DEADLINE": "5"}
        )


def test_the_limit_comes_down_when_latency_rises_and_grows_while_it_holds() -> None:
    limit = AdaptiveLimit(limit=16, minimum=8, maximum=64, window=10, recalibrate_every=3600)
    start = time.monotonic()
    for _ in range(10):  # the first window, at the floor: 100 ms unqueued
        limit.sample(start, 0.100, in_flight=8)
    assert limit.min_rtt == pytest.approx(0.100)
    assert limit.current == 16

    for _ in range(5):  # as busy as the limit allows, at four times the unqueued latency
        for _ in range(10):
            limit.sample(start, 0.400, in_flight=int(limit.current))
    assert limit.current == 8  # down by up to half a window, to the floor

    for _ in range(20):  # latency within the 50% buffer: the limit grows, to the ceiling
        for _ in range(10):
            limit.sample(start, 0.120, in_flight=int(limit.current))
    assert limit.current == 64


def test_a_calibration_ignores_requests_that_started_before_it() -> None:
    limit = AdaptiveLimit(limit=32, minimum=8, window=10, recalibrate_every=0.05)
    for _ in range(10):
        limit.sample(time.monotonic(), 0.050, in_flight=8)
    assert limit.min_rtt == pytest.approx(0.050)
    admitted_under_the_old_limit = time.monotonic()
    time.sleep(0.1)  # the next calibration is due: the floor again
    assert limit.current == 8

    for _ in range(50):
        limit.sample(admitted_under_the_old_limit, 2.0, in_flight=8)
    assert limit.min_rtt == pytest.approx(0.050)
    for _ in range(10):
        limit.sample(time.monotonic(), 0.060, in_flight=8)
    assert limit.min_rtt == pytest.approx(0.060)


async def test_a_draining_queue_is_first_come_first_served_and_a_stuck_one_newest_first() -> None:
    """While waiters get a slot within `newest_first_after` they go in order of
    arrival; once the oldest has waited longer, the queue is not draining and
    the newest goes first, so that the requests served under overload are the
    ones that have not yet waited long (the others run out of time anyway)."""
    admission = Admission(
        AdaptiveLimit(limit=1, minimum=1, maximum=1),
        max_queue=8,
        queue_timeout=5.0,
        newest_first_after=0.2,
    )
    assert await admission.acquire()  # the one slot, held
    waiters = [asyncio.create_task(admission.acquire()) for _ in range(4)]
    await asyncio.sleep(0.01)
    assert admission.queued == 4

    started = time.monotonic()
    admission.release(started)  # within 0.2 s: the first to come
    await asyncio.sleep(0.01)
    assert [w.done() for w in waiters] == [True, False, False, False]

    await asyncio.sleep(0.25)  # the queue has not moved for longer than 0.2 s
    admission.release(started)
    await asyncio.sleep(0.01)
    assert [w.done() for w in waiters] == [True, False, False, True]

    for _ in range(2):
        admission.release(started)
    assert all(await asyncio.gather(*waiters))
