"""The fault proxy, between a real client and the suite's real engine.

Clients through the proxy make one attempt per call (botocore retries nothing),
so each test sees its fault as the engine's client would, raw.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
import aiohttp
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from shopgraph.data.codec import key_attributes, to_attributes
from shopgraph.data.dynamo import Dynamo, client_config, open_client
from shopgraph.errors import Throttled, Unavailable
from shopgraph.settings import Settings
from tests.conftest import free_port, put_items, table_items
from tests.faultproxy import NO_OPERATION, Fault, FaultProxy, Rule

# What a dropped, reset or refused connection surfaces as through aiobotocore:
# EndpointConnectionError (a ConnectionError) or ConnectionClosedError (an HTTPClientError).
CONNECTION_ERRORS = (BotoConnectionError, HTTPClientError)
THROTTLED = "ProvisionedThroughputExceededException"


def item(n: int) -> dict[str, Any]:
    return {"PK": f"FAULT#{n:02d}", "SK": "ITEM", "n": n}


def key(n: int) -> dict[str, str]:
    return {"PK": f"FAULT#{n:02d}", "SK": "ITEM"}


def only(*operations: str) -> frozenset[str]:
    return frozenset(operations)


async def outcome(call: Awaitable[Any]) -> str:
    """The call's outcome: "ok", the error code, or "connection"."""
    try:
        await call
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    except CONNECTION_ERRORS:
        return "connection"
    return "ok"


async def until(condition: Callable[[], bool], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


@pytest.fixture
async def proxy(dynamo_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(dynamo_endpoint) as proxy:
        yield proxy


def check_crc32(response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's standard retries only retry an answer whose x-amz-crc32 does
    not match its body (and with one attempt, take it): so it is checked here."""
    expected = response_dict["headers"].get("x-amz-crc32")
    if expected is not None and isinstance(response_dict.get("body"), bytes):
        assert zlib.crc32(response_dict["body"]) == int(expected), "a stale x-amz-crc32"


@asynccontextmanager
async def through(
    proxy: FaultProxy, settings: Settings, service: str = "dynamodb"
) -> AsyncIterator[Any]:
    """A client through the proxy: one attempt per call, every answer's checksum checked."""
    settings = settings.with_(dynamodb_max_attempts=1)
    async with open_client(settings, endpoint_url=proxy.url, service=service) as client:
        # botocore's own `max_attempts` counts retries, not attempts: had the
        # setting been passed as that, every fault here would be seen twice.
        attempts = client.meta.config.retries["total_max_attempts"]
        assert attempts == 1, f"dynamodb_max_attempts=1 makes {attempts} attempts"
        client.meta.events.register("before-parse", check_crc32)
        yield client


@asynccontextmanager
async def patient(proxy: FaultProxy, settings: Settings, connections: int) -> AsyncIterator[Any]:
    """A client through the proxy as `through` makes, that waits long to connect
    and to read: with hundreds of calls, one event loop runs both the client and
    the proxy, and on a busy machine may fall behind by more than a second."""
    settings = settings.with_(max_pool_connections=connections)
    config = client_config(settings).merge(
        Config(
            connect_timeout=30,
            read_timeout=60,
            retries={"mode": "standard", "total_max_attempts": 1},
        )
    )
    async with aioboto3.Session().client(
        "dynamodb", region_name=settings.region, endpoint_url=proxy.url, config=config
    ) as client:
        client.meta.events.register("before-parse", check_crc32)
        yield client


@pytest.fixture
async def client(proxy: FaultProxy, base_settings: Settings) -> AsyncIterator[Any]:
    async with through(proxy, base_settings) as client:
        yield client


@pytest.fixture
def via(client: Any, table: str) -> Dynamo:
    """The table through the proxy, as the service reaches it."""
    return Dynamo(client, table)


def get(client: Any, table: str, n: int = 0) -> Awaitable[Any]:
    return client.get_item(TableName=table, Key=key_attributes(key(n)))


def put(client: Any, table: str, n: int) -> Awaitable[Any]:
    return client.put_item(TableName=table, Item=to_attributes(item(n)))


@pytest.mark.parametrize(
    ("fault", "code"),
    [(Fault.THROTTLE, THROTTLED), (Fault.THROTTLING, "ThrottlingException")],
)
async def test_throttling_answers_as_dynamodb_and_reaches_nothing(
    proxy: FaultProxy, client: Any, via: Dynamo, db: Dynamo, table: str, fault: Fault, code: str
) -> None:
    proxy.add(Rule(fault))
    with pytest.raises(ClientError) as caught:
        await put(client, table, 1)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(Throttled):
        await via.put(item(2))
    assert proxy.injected[fault] == 2
    assert not proxy.forwarded
    assert await table_items(db) == []


async def test_server_error_is_a_500_internal_server_error(
    proxy: FaultProxy, client: Any, table: str
) -> None:
    proxy.add(Rule(Fault.SERVER_ERROR, operations=only("GetItem")))
    with pytest.raises(ClientError) as caught:
        await get(client, table)
    assert caught.value.response["Error"]["Code"] == "InternalServerError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert not proxy.forwarded


async def test_reset_fails_the_call_on_the_connection_and_writes_nothing(
    proxy: FaultProxy, client: Any, via: Dynamo, db: Dynamo, table: str
) -> None:
    proxy.add(Rule(Fault.RESET, operations=only("PutItem")))
    with pytest.raises(CONNECTION_ERRORS):
        await put(client, table, 1)
    # The service reports it as the store being unreachable.
    with pytest.raises(Unavailable):
        await via.put(item(2))
    assert proxy.injected[Fault.RESET] == 2
    assert not proxy.forwarded
    assert await table_items(db) == []


async def test_a_lost_response_fails_on_the_client_but_the_write_is_applied(
    proxy: FaultProxy, client: Any, db: Dynamo, table: str
) -> None:
    proxy.add(Rule(Fault.LOST_RESPONSE, operations=only("PutItem"), count=1))
    with pytest.raises(CONNECTION_ERRORS):
        await put(client, table, 1)
    written = await db.get(key(1))
    assert written is not None and written["n"] == 1
    assert proxy.forwarded["PutItem"] == 1
    # The rule is spent: the same client writes again.
    await put(client, table, 2)
    assert [i["PK"] for i in await table_items(db)] == ["FAULT#01", "FAULT#02"]


async def test_latency_rules_add_up_and_let_the_deciding_rule_decide(
    proxy: FaultProxy, client: Any, table: str
) -> None:
    proxy.add(Rule(Fault.LATENCY, operations=only("GetItem"), latency=0.2))
    proxy.add(Rule(Fault.LATENCY, latency=0.1, jitter=0.1))
    started = time.monotonic()
    await get(client, table)
    # A lower bound only: shared machines may be slower still.
    assert time.monotonic() - started >= 0.3
    assert proxy.forwarded["GetItem"] == 1

    # Latency does not stop evaluation: a rule after it still decides the fate.
    proxy.add(Rule(Fault.THROTTLE, operations=only("GetItem")))
    started = time.monotonic()
    assert await outcome(get(client, table)) == THROTTLED
    assert time.monotonic() - started >= 0.3
    assert proxy.injected[Fault.LATENCY] == 4
    assert proxy.forwarded["GetItem"] == 1


async def test_unprocessed_batch_get_returns_the_rest_as_unprocessed_keys(
    proxy: FaultProxy, client: Any, via: Dynamo, db: Dynamo, table: str
) -> None:
    await put_items(db, [item(n) for n in range(10)])
    proxy.add(Rule(Fault.UNPROCESSED, operations=only("BatchGetItem"), fraction=0.3, count=1))
    asked = {
        "Keys": [key_attributes(key(n)) for n in range(10)],
        "ConsistentRead": True,
        "ProjectionExpression": "PK, SK, n",
    }
    response = await client.batch_get_item(RequestItems={table: asked})
    found = [i["PK"]["S"] for i in response["Responses"][table]]
    unprocessed = response["UnprocessedKeys"][table]
    left = [k["PK"]["S"] for k in unprocessed["Keys"]]
    assert len(found) == 7 and len(left) == 3
    assert sorted(found + left) == [key(n)["PK"] for n in range(10)]
    assert unprocessed["ConsistentRead"] is True
    assert unprocessed["ProjectionExpression"] == "PK, SK, n"
    assert proxy.injected[Fault.UNPROCESSED] == 1
    assert proxy.forwarded["BatchGetItem"] == 1

    # With the fault on every call, the service's retries of UnprocessedKeys
    # (which the engine must accept as they are) still bring every item in.
    proxy.add(Rule(Fault.UNPROCESSED))
    items = await via.batch_get([key(n) for n in range(10)])
    assert [i["PK"] if i else None for i in items] == [key(n)["PK"] for n in range(10)]
    assert proxy.injected[Fault.UNPROCESSED] > 2


async def test_unprocessed_of_everything_never_reaches_the_engine(
    proxy: FaultProxy, via: Dynamo, db: Dynamo
) -> None:
    await put_items(db, [item(n) for n in range(3)])
    proxy.add(Rule(Fault.UNPROCESSED, fraction=1.0))
    with pytest.raises(Throttled):
        await via.batch_get([key(n) for n in range(3)], max_attempts=3)
    with pytest.raises(Throttled):
        await via.batch_write([{"PutRequest": {"Item": to_attributes(item(5))}}], max_attempts=3)
    assert proxy.injected[Fault.UNPROCESSED] == 6
    assert not proxy.forwarded
    assert len(await table_items(db)) == 3


async def test_unprocessed_batch_write_writes_part_and_returns_the_rest(
    proxy: FaultProxy, client: Any, via: Dynamo, db: Dynamo, table: str
) -> None:
    proxy.add(Rule(Fault.UNPROCESSED, operations=only("BatchWriteItem"), count=1))
    puts = [{"PutRequest": {"Item": to_attributes(item(n))}} for n in range(10)]
    response = await client.batch_write_item(RequestItems={table: puts})
    assert proxy.forwarded["BatchWriteItem"] == 1
    unprocessed = response["UnprocessedItems"][table]
    left = [r["PutRequest"]["Item"]["PK"]["S"] for r in unprocessed]
    written = [i["PK"] for i in await table_items(db)]
    assert len(left) == 5 and len(written) == 5
    assert sorted(written + left) == [key(n)["PK"] for n in range(10)]
    # What came back unprocessed is a request the engine takes as it is.
    await via.batch_write(unprocessed)
    assert len(await table_items(db)) == 10


async def test_unprocessed_entries_of_the_engine_are_merged_with_those_held_back(
    proxy: FaultProxy, base_settings: Settings, db: Dynamo, table: str
) -> None:
    # A second proxy in front of the first: to it, what the first holds back is
    # what the engine left unprocessed, and the two must come back together.
    await put_items(db, [item(n) for n in range(10)])
    proxy.add(Rule(Fault.UNPROCESSED))
    async with FaultProxy(proxy.url) as front, through(front, base_settings) as client:
        front.add(Rule(Fault.UNPROCESSED))
        keys = [key_attributes(key(n)) for n in range(10)]
        response = await client.batch_get_item(
            RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
        )
        found = [i["PK"]["S"] for i in response["Responses"][table]]
        unprocessed = response["UnprocessedKeys"][table]
        left = [k["PK"]["S"] for k in unprocessed["Keys"]]
        # The front holds back 5 of 10, the next 2 of the 5 it gets.
        assert len(found) == 3 and len(left) == 7
        assert sorted(found + left) == [key(n)["PK"] for n in range(10)]
        assert unprocessed["ConsistentRead"] is True

        puts = [{"PutRequest": {"Item": to_attributes(item(n))}} for n in range(10, 20)]
        response = await client.batch_write_item(RequestItems={table: puts})
        left = [r["PutRequest"]["Item"]["PK"]["S"] for r in response["UnprocessedItems"][table]]
        written = [i["PK"] for i in await table_items(db) if i["n"] >= 10]
        assert len(left) == 7 and len(written) == 3
        assert sorted(written + left) == [key(n)["PK"] for n in range(10, 20)]


async def test_conflict_cancels_the_transaction_naming_a_reason_per_item(
    proxy: FaultProxy, client: Any, db: Dynamo, table: str
) -> None:
    proxy.add(Rule(Fault.CONFLICT))
    puts = [{"Put": {"TableName": table, "Item": to_attributes(item(n))}} for n in range(3)]
    with pytest.raises(ClientError) as caught:
        await client.transact_write_items(TransactItems=puts)
    error = caught.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == [
        "None",
        "None",
        "TransactionConflict",
    ]
    assert "[None, None, TransactionConflict]" in error["Error"]["Message"]
    assert not proxy.forwarded
    assert await table_items(db) == []

    # A conflict (or unprocessed) rule passes every other operation by.
    proxy.add(Rule(Fault.UNPROCESSED))
    await put(client, table, 7)
    assert proxy.injected == {Fault.CONFLICT: 1}
    assert proxy.forwarded == {"PutItem": 1}


async def test_a_counted_rule_fires_that_many_times_then_never(
    proxy: FaultProxy, client: Any, table: str
) -> None:
    rule = proxy.add(Rule(Fault.THROTTLE, operations=only("GetItem"), count=2))
    outcomes = [await outcome(get(client, table)) for _ in range(5)]
    assert outcomes == [THROTTLED, THROTTLED, "ok", "ok", "ok"]
    assert rule.fired == 2
    assert proxy.forwarded["GetItem"] == 3


async def test_probability_zero_never_fires_and_a_seed_repeats_its_pattern(
    proxy: FaultProxy, client: Any, table: str, dynamo_endpoint: str, base_settings: Settings
) -> None:
    proxy.add(Rule(Fault.THROTTLE, probability=0.0))
    assert {await outcome(get(client, table)) for _ in range(10)} == {"ok"}
    assert not proxy.injected

    async def pattern(seed: int) -> list[str]:
        async with (
            FaultProxy(dynamo_endpoint, seed=seed) as other,
            through(other, base_settings) as other_client,
        ):
            other.add(Rule(Fault.THROTTLE, probability=0.5))
            return [await outcome(get(other_client, table)) for _ in range(16)]

    first = await pattern(7)
    assert set(first) == {"ok", THROTTLED}
    assert await pattern(7) == first


async def test_rules_are_per_operation(proxy: FaultProxy, client: Any, table: str) -> None:
    proxy.add(Rule(Fault.THROTTLE, operations=only("GetItem")))
    assert await outcome(put(client, table, 1)) == "ok"
    assert await outcome(get(client, table, 1)) == THROTTLED
    assert proxy.forwarded == {"PutItem": 1}


async def test_streams_operations_are_named_after_their_target(
    proxy: FaultProxy, base_settings: Settings
) -> None:
    # DynamoDBStreams_20120810.ListStreams is ListStreams.
    async with through(proxy, base_settings, service="dynamodbstreams") as streams:
        rule = proxy.add(Rule(Fault.THROTTLE, operations=only("ListStreams")))
        assert await outcome(streams.list_streams()) == THROTTLED
        proxy.remove(rule)
        assert await outcome(streams.list_streams()) == "ok"
    assert proxy.forwarded == {"ListStreams": 1}


async def test_rules_changed_while_traffic_flows_take_effect_at_once(
    proxy: FaultProxy, client: Any, table: str
) -> None:
    done = asyncio.Event()
    outcomes: list[str] = []

    async def traffic() -> None:
        while not done.is_set():
            outcomes.append(await outcome(get(client, table)))

    workers = [asyncio.create_task(traffic()) for _ in range(4)]
    try:
        rule = proxy.add(Rule(Fault.THROTTLE, operations=only("GetItem")))
        await until(lambda: rule.fired >= 5)
        proxy.remove(rule)
        fired, forwarded = rule.fired, proxy.forwarded["GetItem"]
        await until(lambda: proxy.forwarded["GetItem"] >= forwarded + 5)
        assert rule.fired == fired

        proxy.add(Rule(Fault.SERVER_ERROR))
        await until(lambda: proxy.injected[Fault.SERVER_ERROR] >= 5)
        proxy.clear()
        errors, forwarded = proxy.injected[Fault.SERVER_ERROR], proxy.forwarded["GetItem"]
        await until(lambda: proxy.forwarded["GetItem"] >= forwarded + 5)
        assert proxy.injected[Fault.SERVER_ERROR] == errors
    finally:
        done.set()
        await asyncio.gather(*workers)
    assert set(outcomes) == {"ok", THROTTLED, "InternalServerError"}


async def test_go_down_refuses_and_drops_connections_and_come_back_restores(
    proxy: FaultProxy, client: Any, base_settings: Settings, table: str
) -> None:
    await get(client, table)  # leaves a pooled connection open
    url = proxy.url
    proxy.add(Rule(Fault.LATENCY, operations=only("Query"), latency=30))
    in_flight = asyncio.create_task(
        outcome(
            client.query(
                TableName=table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": "FAULT#00"}},
            )
        )
    )
    await until(lambda: proxy.injected[Fault.LATENCY] == 1)

    await proxy.go_down()
    assert await asyncio.wait_for(in_flight, 5) == "connection"
    started = time.monotonic()
    with pytest.raises(CONNECTION_ERRORS) as caught:
        await get(client, table)
    # Refused at once, not a timeout.
    assert not isinstance(caught.value, ConnectTimeoutError | ReadTimeoutError)
    assert time.monotonic() - started < client_config(base_settings).connect_timeout
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.port)
    assert proxy.forwarded["Query"] == 0

    await proxy.come_back()
    assert proxy.url == url
    assert await outcome(get(client, table)) == "ok"
    assert proxy.forwarded["GetItem"] == 2


async def test_requests_without_a_target_are_forwarded_unchanged(
    proxy: FaultProxy, dynamo_endpoint: str
) -> None:
    proxy.add(Rule(Fault.RESET))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{dynamo_endpoint}/") as response:
            direct = (response.status, await response.read())
        async with session.get(f"{proxy.url}/") as response:
            proxied = (response.status, await response.read())
    assert proxied == direct
    assert proxy.forwarded == {NO_OPERATION: 1}
    assert not proxy.injected


async def test_an_engine_that_cannot_be_reached_resets_the_connection(
    base_settings: Settings, table: str
) -> None:
    async with (
        FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy,
        through(proxy, base_settings) as client,
    ):
        with pytest.raises(CONNECTION_ERRORS):
            await get(client, table)
        with pytest.raises(Unavailable):
            await Dynamo(client, table).get(key(0))
    assert not proxy.forwarded


async def test_hundreds_of_concurrent_requests(
    proxy: FaultProxy, base_settings: Settings, db: Dynamo, table: str
) -> None:
    await put_items(db, [item(n) for n in range(20)])
    proxy.add(Rule(Fault.LATENCY, latency=0.05, jitter=0.05))
    proxy.add(Rule(Fault.THROTTLE, operations=only("GetItem"), probability=0.3))

    async def read(client: Any, n: int) -> str:
        try:
            response = await get(client, table, n % 20)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok" if response["Item"]["PK"]["S"] == key(n % 20)["PK"] else "wrong item"

    async with patient(proxy, base_settings, connections=300) as client:
        outcomes = await asyncio.gather(*(read(client, n) for n in range(300)))
    assert outcomes.count("ok") == proxy.forwarded["GetItem"]
    assert outcomes.count(THROTTLED) == proxy.injected[Fault.THROTTLE] > 0
    assert outcomes.count("ok") + outcomes.count(THROTTLED) == 300
    assert proxy.injected[Fault.LATENCY] == 300


async def test_stop_ends_requests_in_flight_and_leaves_nothing_behind(
    dynamo_endpoint: str, base_settings: Settings, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = FaultProxy(dynamo_endpoint)
    await proxy.start()
    proxy.add(Rule(Fault.LATENCY, latency=30))
    with caplog.at_level(logging.WARNING):
        async with through(proxy, base_settings) as client:
            calls = [asyncio.create_task(outcome(get(client, table))) for _ in range(20)]
            await until(lambda: proxy.injected[Fault.LATENCY] == 20)
            await asyncio.wait_for(proxy.stop(), 5)
            assert await asyncio.wait_for(asyncio.gather(*calls), 5) == ["connection"] * 20
        await proxy.stop()  # a second stop is harmless
        gc.collect()
        await asyncio.sleep(0)
    assert not proxy.forwarded
    # No "Task was destroyed", "Unclosed client session" nor handler errors.
    assert [r.getMessage() for r in caplog.records] == []
