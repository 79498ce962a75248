"""The stream across processes: fan-out to every server, a stream worker on its
own, graceful stops, and subscribers that stop reading."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import aiohttp
import websockets

from shopgraph.data import entities
from shopgraph.data.dynamo import Dynamo
from shopgraph.server.app import STATE
from tests.conftest import Api, free_port, process_env
from tests.test_subscriptions import MOVE, PLACE, subscribed, ws_url

ADMINS = frozenset({"admin@example.com"})
EVENTS = 20


def _init(token: str) -> str:
    return json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})


def _env(table: str, **extra: str) -> dict[str, str]:
    return process_env(
        SHOPGRAPH_TABLE=table,
        SHOPGRAPH_SECRET="shared-secret",
        SHOPGRAPH_ADMIN_EMAILS="admin@example.com",
        **extra,
    )


@contextmanager
def _process(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "shopgraph", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


class Remote:
    """A `shopgraph serve` process, spoken to over HTTP."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base, self.session = base, session

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.post(
            f"{self.base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        ) as response:
            body = await response.json()
        assert not body.get("errors"), body
        return body["data"]

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"


@asynccontextmanager
async def _serving(
    endpoint: str, table: str, session: aiohttp.ClientSession
) -> AsyncIterator[tuple[Remote, subprocess.Popen[bytes]]]:
    port = free_port()
    env = _env(table, PORT=str(port), HOST="127.0.0.1")
    with _process("serve", "--endpoint-url", endpoint, env=env) as process:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            with suppress(aiohttp.ClientError):
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        break
            assert time.monotonic() < deadline, "server did not become ready"
            await asyncio.sleep(0.2)
        yield Remote(base, session), process


SIGN_UP = (
    "mutation($e: String!) { signUp(input: {email: $e, name: "
    '"N", password: "long-enough"}) { token } }'
)
PRODUCT = (
    'mutation { createProduct(input: {id: "lamp", name: "Lamp", category: "home", '
    'price: "30.00"}) { id } }'
)


async def test_two_server_processes_each_deliver_every_event(
    dynamo_endpoint: str, table: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        _serving(dynamo_endpoint, table, session) as (first, _),
        _serving(dynamo_endpoint, table, session) as (second, _),
    ):
        admin = (await first.data(SIGN_UP, {"e": "admin@example.com"}))["signUp"]["token"]
        buyer = (await second.data(SIGN_UP, {"e": "buyer@example.com"}))["signUp"]["token"]
        await first.data(PRODUCT, token=admin)
        async with (
            subscribed(first.ws, admin) as on_first,
            subscribed(second.ws, admin) as on_second,
        ):
            order = (await first.data(PLACE, {"p": "lamp"}, token=buyer))["placeOrder"]["id"]
            await second.data(MOVE, {"id": order, "s": "PAID"}, token=admin)
            seen_first = [(await asyncio.wait_for(on_first.get(), 15))[1] for _ in range(2)]
            seen_second = [(await asyncio.wait_for(on_second.get(), 15))[1] for _ in range(2)]
    for seen in (seen_first, seen_second):
        assert [(e["order"]["id"], e["status"]) for e in seen] == [
            (order, "PENDING"),
            (order, "PAID"),
        ]


async def test_sigterm_closes_subscriptions_and_keeps_the_checkpoint(
    dynamo_endpoint: str, table: str, db: Dynamo
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        _serving(dynamo_endpoint, table, session) as (
            server,
            process,
        ),
    ):
        admin = (await server.data(SIGN_UP, {"e": "admin@example.com"}))["signUp"]["token"]
        await server.data(PRODUCT, token=admin)
        order = (await server.data(PLACE, {"p": "lamp"}, token=admin))["placeOrder"]["id"]
        async with websockets.connect(server.ws, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(_init(admin))
            await ws.recv()
            await ws.send(
                '{"id": "1", "type": "subscribe", "payload": {"query": '
                '"subscription { orderStatusChanged { status } }"}}'
            )
            await server.data(MOVE, {"id": order, "s": "PAID"}, token=admin)
            # The order placed just before may come first (a moment-old change).
            while "PAID" not in (message := await asyncio.wait_for(ws.recv(), 15)):
                assert "PENDING" in message, message
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(ws.recv(), 15)
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1001
            else:
                raise AssertionError("the subscription stayed open")
        returncode = await asyncio.to_thread(process.wait, 30)
        assert returncode == 0
    checkpoints = await db.query_all(
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={
            ":pk": {"S": entities.STREAM_CHECKPOINT.partition(consumer="sales-stats")}
        },
    )
    assert checkpoints and all(c["sequenceNumber"] for c in checkpoints)


async def test_the_stream_worker_keeps_sales_stats_on_its_own(
    dynamo_endpoint: str, table: str, api: Api
) -> None:
    admin = await api.sign_up("admin@example.com")
    await api.data(PRODUCT, token=admin)
    with _process("stream-worker", "--endpoint-url", dynamo_endpoint, env=_env(table)) as worker:
        order = (await api.data(PLACE, {"p": "lamp"}, token=admin))["placeOrder"]
        for status in ("PAID", "SHIPPED", "COMPLETED"):
            moved = await api.data(MOVE, {"id": order["id"], "s": status}, token=admin)
        day = time.strftime("%Y-%m-%d", time.gmtime())
        stats_query = "query($d: String!) { salesStats(day: $d) { completedOrders revenue } }"
        deadline = time.monotonic() + 30
        while True:
            stats = (await api.data(stats_query, {"d": day}, token=admin))["salesStats"]
            if stats["completedOrders"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert stats == {"completedOrders": 1, "revenue": "30.00"}
        assert moved
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 20) == 0


async def test_a_subscriber_that_never_reads_is_dropped_and_the_others_keep_pace(
    start_api: Any,
) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True, subscriber_queue=4)
    admin = await api.sign_up("admin@example.com")
    for n in range(10):
        await api.data(
            'mutation($id: ID!, $d: String!) { createProduct(input: {id: $id, name: "Tome", '
            'category: "books", price: "5.00", description: $d}) { id } }',
            {"id": f"tome{n}", "d": "x" * 5000},
            token=admin,
        )
    lines = ", ".join(f'{{productId: "tome{n}", quantity: 1}}' for n in range(10))
    place = f"mutation {{ placeOrder(input: {{items: [{lines}]}}) {{ id }} }}"
    # Each event it asks for is over 1 MB, and its socket takes almost nothing.
    heavy = " ".join(f"a{n}: order {{ items {{ product {{ description }} }} }}" for n in range(25))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", api.http.port))
    broker = api.http.server.app[STATE].broker
    async with websockets.connect(
        ws_url(api),
        sock=sock,
        subprotocols=["graphql-transport-ws"],
        max_queue=1,  # type: ignore[list-item]
    ) as slow:
        await slow.send(_init(admin))
        await slow.recv()
        await slow.send(
            '{"id": "s", "type": "subscribe", "payload": {"query": '
            f'"subscription {{ orderStatusChanged {{ {heavy} }} }}"}}}}'
        )
        async with subscribed(ws_url(api), admin) as fast:
            await asyncio.sleep(0.5)
            assert len(broker.subscribers) == 2
            sent: list[float] = []
            for _ in range(EVENTS):
                await api.data(place, token=admin)
                sent.append(time.monotonic())
                # Paced, so that no read of the stream brings a burst larger
                # than the queue of a subscriber that does keep up.
                await asyncio.sleep(0.3)
            arrived = []
            for n in range(EVENTS):
                try:
                    arrived.append((await asyncio.wait_for(fast.get(), 20))[0])
                except TimeoutError:
                    raise AssertionError(
                        f"got {n}, subscribers {len(broker.subscribers)}"
                    ) from None
            delays = [a - s for a, s in zip(arrived, sent, strict=True)]
            assert max(delays) < 5.0, delays
            assert len(broker.subscribers) == 1  # the slow one was dropped
