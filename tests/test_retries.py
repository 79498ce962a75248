"""The service's own DynamoDB client retries what standard mode retries, and
nothing else: through the fault proxy, with the attempts the service makes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shopgraph.data.codec import key_attributes, to_attributes
from shopgraph.data.dynamo import open_client
from shopgraph.settings import Settings
from tests.faultproxy import Fault, FaultProxy, Rule

KEY = {"PK": "RETRY#1", "SK": "ITEM"}


@pytest.fixture
async def proxy(dynamo_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(dynamo_endpoint) as proxy:
        yield proxy


@pytest.fixture
async def client(proxy: FaultProxy, base_settings: Settings, table: str) -> AsyncIterator[Any]:
    settings = base_settings.with_(dynamodb_max_attempts=3)
    async with open_client(settings, endpoint_url=proxy.url) as client:
        await client.put_item(TableName=table, Item=to_attributes({**KEY, "n": 7}))
        proxy.forwarded.clear()
        yield client


async def get(client: Any, table: str) -> dict[str, Any]:
    return await client.get_item(TableName=table, Key=key_attributes(KEY))


async def test_a_clean_answer_is_taken_at_once(proxy: FaultProxy, client: Any, table: str) -> None:
    response = await get(client, table)
    assert response["Item"]["n"] == {"N": "7"}
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert proxy.forwarded["GetItem"] == 1


async def test_an_answer_damaged_on_the_way_is_asked_for_again(
    proxy: FaultProxy, client: Any, table: str
) -> None:
    proxy.add(Rule(Fault.CORRUPT, operations=frozenset({"GetItem"}), count=1))
    response = await get(client, table)
    assert response["Item"]["n"] == {"N": "7"}
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.injected["corrupt"] == 1
    assert proxy.forwarded["GetItem"] == 2


async def test_throttling_and_engine_failures_are_retried_up_to_the_attempts(
    proxy: FaultProxy, client: Any, table: str
) -> None:
    proxy.add(Rule(Fault.THROTTLE, operations=frozenset({"GetItem"}), count=1))
    proxy.add(Rule(Fault.SERVER_ERROR, operations=frozenset({"GetItem"}), count=1))
    response = await get(client, table)
    assert response["Item"]["n"] == {"N": "7"}
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert proxy.forwarded["GetItem"] == 1


async def test_retries_stop_at_the_attempts(proxy: FaultProxy, client: Any, table: str) -> None:
    proxy.add(Rule(Fault.THROTTLE, operations=frozenset({"GetItem"})))
    with pytest.raises(ClientError) as failure:
        await get(client, table)
    assert failure.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert failure.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert proxy.injected["throttle"] == 3
    assert proxy.forwarded["GetItem"] == 0
