"""The server as a newcomer meets it: GraphiQL, health, readiness, the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

import aiohttp

from tests.conftest import Api, process_env
from tests.faultproxy import FaultProxy


async def test_graphiql_is_served_to_browsers(api: Api) -> None:
    response = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "graphiql" in (await response.text()).lower()


async def test_health_and_readiness(api: Api) -> None:
    health = await api.http.get("/healthz")
    assert health.status == 200
    ready = await api.http.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["status"] == "ready"


async def test_not_ready_while_the_table_cannot_be_reached(start_api: Any) -> None:
    api = await start_api(table_name=f"missing-{uuid.uuid4().hex[:8]}")
    ready = await api.http.get("/readyz")
    assert ready.status == 503
    # Queries that need the table say so with a code, not a 500.
    body = await api.gql('{ product(id: "p1") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"


async def test_a_readiness_probe_reads_one_item_not_the_table_description(
    start_api: Any, dynamo_endpoint: str
) -> None:
    # DynamoDB Local counts a table's items to describe it: 0.76 s a probe at
    # 400,000 items, past the probe's 1 s timeout at a few million.
    async with FaultProxy(dynamo_endpoint) as proxy:
        api = await start_api(endpoint_url=proxy.url, stream_consumer=False)
        calls = proxy.recording()
        for _ in range(3):
            assert (await api.http.get("/readyz")).status == 200
        proxy.stop_recording()
    assert [call.operation for call in calls] == ["GetItem"] * 3


async def test_every_response_has_a_request_id(api: Api) -> None:
    response = await api.post({"query": "{ viewer { id } }"})
    assert len(response.headers["X-Request-Id"]) == 32


async def test_a_get_query_answers(api: Api) -> None:
    response = await api.http.get(
        "/graphql", params={"query": "{ viewer { id } }"}, headers={"Accept": "application/json"}
    )
    assert response.status == 200
    assert (await response.json())["data"] == {"viewer": None}


async def test_serve_with_nothing_configured_runs_in_memory_with_demo_data(serve: Any) -> None:
    served = await serve(
        "--seed-demo", "--customers", "2", "--products", "6", "--orders-per-customer", "3"
    )
    base = served.base
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/graphql", headers={"Accept": "text/html"}) as page:
            assert page.status == 200
            assert "graphiql" in (await page.text()).lower()
        log_in = {
            "query": 'mutation { logIn(email: "customer1@example.com", '
            'password: "shopgraph-demo") { token } }'
        }
        async with session.post(f"{base}/graphql", json=log_in) as response:
            token = (await response.json())["data"]["logIn"]["token"]
        query = {"query": "{ viewer { email orders { nodes { number items { quantity } } } } }"}
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{base}/graphql", json=query, headers=headers) as response:
            body = await response.json()
    assert body["data"]["viewer"]["email"] == "customer1@example.com"
    assert len(body["data"]["viewer"]["orders"]["nodes"]) == 3
    await served.stop()
    assert "in memory" in served.output


def _cli(*args: str, endpoint: str, table: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopgraph", *args, "--endpoint-url", endpoint],
        env=process_env(SHOPGRAPH_TABLE=table),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_table_is_idempotent_and_refuses_another_shape(
    dynamo_endpoint: str, dynamo_client: Any
) -> None:
    table = f"cli-{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(_cli, "create-table", endpoint=dynamo_endpoint, table=table)
    assert first.returncode == 0, first.stderr
    assert "created table" in first.stdout
    again = await asyncio.to_thread(_cli, "create-table", endpoint=dynamo_endpoint, table=table)
    assert again.returncode == 0, again.stderr
    assert "already exists" in again.stdout
    description = (await dynamo_client.describe_table(TableName=table))["Table"]
    assert {g["IndexName"] for g in description["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}
    assert [i["IndexName"] for i in description["LocalSecondaryIndexes"]] == ["LSI1"]
    ttl = await dynamo_client.describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"
    await dynamo_client.delete_table(TableName=table)

    other = f"cli-other-{uuid.uuid4().hex[:8]}"
    await dynamo_client.create_table(
        TableName=other,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
    )
    refused = await asyncio.to_thread(_cli, "create-table", endpoint=dynamo_endpoint, table=other)
    await dynamo_client.delete_table(TableName=other)
    assert refused.returncode != 0
    assert "key schema" in refused.stderr
