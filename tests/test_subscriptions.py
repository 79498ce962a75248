"""orderStatusChanged over graphql-transport-ws, with a real client (gql)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.conftest import Api

ADMINS = frozenset({"admin@example.com"})
# From a committed change to a subscriber's socket: the consumer polls an idle
# shard at most every 2 s.
DELIVERY_BOUND_SECONDS = 5.0
SUBSCRIPTION = """
subscription($id: ID) {
  orderStatusChanged(orderId: $id) {
    order { id number user { id } }
    previousStatus status changedAt
  }
}
"""
PLACE = "mutation($p: ID!) { placeOrder(input: {items: [{productId: $p, quantity: 1}]}) { id } }"
MOVE = "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { status } }"


def ws_url(api: Api) -> str:
    return str(api.http.make_url("/graphql")).replace("http://", "ws://")


def transport(url: str, token: str | None) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=url,
        init_payload={"Authorization": f"Bearer {token}"} if token else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )


@contextlib.asynccontextmanager
async def subscribed(
    url: str,
    token: str | None,
    order_id: str | None = None,
    *,
    document: str = SUBSCRIPTION,
    settle: float = 0.5,
) -> AsyncIterator[asyncio.Queue[tuple[float, dict[str, Any]]]]:
    """Subscribes in the background; yields a queue of (arrival time, event).
    settle: how long the subscribe message may take to reach the server."""
    events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
    ready = asyncio.Event()

    async def run() -> None:
        async with Client(transport=transport(url, token)) as session:
            request = gql(document)
            request.variable_values = {"id": order_id}
            ready.set()
            async for result in session.subscribe(request):
                await events.put((time.monotonic(), result["orderStatusChanged"]))

    task = asyncio.create_task(run())
    await asyncio.wait_for(ready.wait(), 10)
    await asyncio.sleep(settle)
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _shop(api: Api) -> tuple[str, str, str]:
    admin = await api.sign_up("admin@example.com")
    alice = await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    await api.data(
        'mutation { createProduct(input: {id: "mug", name: "Mug", category: "kitchen", '
        'price: "8.50", stock: 100}) { id } }',
        token=admin,
    )
    return admin, alice, bob


async def test_a_customer_sees_their_order_move_in_order_and_nothing_else(start_api: Any) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    admin, alice, bob = await _shop(api)

    async with subscribed(ws_url(api), alice) as events:
        committed: list[float] = []
        mine = (await api.data(PLACE, {"p": "mug"}, token=alice))["placeOrder"]["id"]
        committed.append(time.monotonic())
        await api.data(PLACE, {"p": "mug"}, token=bob)  # someone else's: never shown
        for status in ("PAID", "SHIPPED", "COMPLETED"):
            await api.data(MOVE, {"id": mine, "s": status}, token=admin)
            committed.append(time.monotonic())
        received = [
            await asyncio.wait_for(events.get(), DELIVERY_BOUND_SECONDS + 5) for _ in range(4)
        ]
        await asyncio.sleep(1.5)
        assert events.empty(), "another customer's order leaked"

    assert [(e["previousStatus"], e["status"]) for _, e in received] == [
        (None, "PENDING"),
        ("PENDING", "PAID"),
        ("PAID", "SHIPPED"),
        ("SHIPPED", "COMPLETED"),
    ]
    assert {e["order"]["id"] for _, e in received} == {mine}
    for (arrived, _), sent in zip(received, committed, strict=True):
        assert arrived - sent < DELIVERY_BOUND_SECONDS


async def test_one_order_and_the_admin_view(start_api: Any) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    admin, alice, _ = await _shop(api)
    async with subscribed(ws_url(api), admin) as placing:
        first = (await api.data(PLACE, {"p": "mug"}, token=alice))["placeOrder"]["id"]
        second = (await api.data(PLACE, {"p": "mug"}, token=alice))["placeOrder"]["id"]
        # Once they are through the feed, they are not news to who subscribes next.
        for _ in range(2):
            await asyncio.wait_for(placing.get(), 15)

    async with (
        subscribed(ws_url(api), alice, order_id=second) as one_order,
        subscribed(ws_url(api), admin) as everything,
    ):
        await api.data(MOVE, {"id": first, "s": "PAID"}, token=admin)
        await api.data(MOVE, {"id": second, "s": "CANCELLED"}, token=alice)
        _, only = await asyncio.wait_for(one_order.get(), 15)
        seen = [(await asyncio.wait_for(everything.get(), 15))[1] for _ in range(2)]
    assert (only["order"]["id"], only["status"]) == (second, "CANCELLED")
    assert {(e["order"]["id"], e["status"]) for e in seen} == {
        (first, "PAID"),
        (second, "CANCELLED"),
    }


async def test_a_cancelled_order_is_never_news_and_the_changes_after_it_still_come(
    start_api: Any,
) -> None:
    """Ten buyers race for three mugs: the seven transactions that are
    cancelled announce nothing, and the feed goes on after them."""
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    admin, alice, _ = await _shop(api)
    await api.data(
        'mutation { createProduct(input: {id: "rare", name: "Rare mug", category: "kitchen", '
        'price: "80.00", stock: 3}) { id } }',
        token=admin,
    )
    async with subscribed(ws_url(api), admin) as events:
        bodies = await asyncio.gather(
            *(api.gql(PLACE, {"p": "rare"}, token=alice) for _ in range(10))
        )
        placed = [b["data"]["placeOrder"]["id"] for b in bodies if not b.get("errors")]
        assert len(placed) == 3, bodies
        await api.data(MOVE, {"id": placed[0], "s": "PAID"}, token=admin)
        seen = [(await asyncio.wait_for(events.get(), 15))[1] for _ in range(4)]
        await asyncio.sleep(1.5)
        assert events.empty(), "a change that never happened was announced"
    assert sorted((e["order"]["id"], e["status"]) for e in seen) == sorted(
        [(order, "PENDING") for order in placed] + [(placed[0], "PAID")]
    )


async def _subscribe_error(url: str, token: str | None, order_id: str | None) -> dict[str, Any]:
    async with Client(transport=transport(url, token)) as session:
        request = gql(SUBSCRIPTION)
        request.variable_values = {"id": order_id}
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(request):
                pass
    return raised.value.errors[0]  # type: ignore[index]


async def test_who_may_subscribe(start_api: Any) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    _, alice, bob = await _shop(api)
    alices = (await api.data(PLACE, {"p": "mug"}, token=alice))["placeOrder"]["id"]
    url = ws_url(api)
    assert (await _subscribe_error(url, bob, alices))["extensions"]["code"] == "FORBIDDEN"
    assert (await _subscribe_error(url, None, None))["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await _subscribe_error(url, "not-a-token", None))["extensions"][
        "code"
    ] == "UNAUTHENTICATED"


RESUMABLE = """
subscription($after: String) {
  orderStatusChanged(after: $after) { eventId cursor status order { id } }
}
"""


async def _changes(url: str, token: str, after: str | None, count: int) -> list[dict[str, Any]]:
    """The first `count` changes of a subscription (after `after`)."""
    received: list[dict[str, Any]] = []
    async with Client(transport=transport(url, token)) as session:
        request = gql(RESUMABLE)
        request.variable_values = {"after": after}
        async for result in session.subscribe(request):
            received.append(result["orderStatusChanged"])
            if len(received) == count:
                break
    return received


async def test_a_subscriber_that_comes_back_resumes_after_its_cursor(start_api: Any) -> None:
    """Changes made while a subscriber was away come first when it subscribes
    again with the cursor of the last one it got; then the live ones, each once."""
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    admin, alice, _ = await _shop(api)
    url = ws_url(api)
    listening = asyncio.create_task(_changes(url, alice, None, 2))
    await asyncio.sleep(1.0)
    order = (await api.data(PLACE, {"p": "mug"}, token=alice))["placeOrder"]["id"]
    await api.data(MOVE, {"id": order, "s": "PAID"}, token=admin)
    first = await asyncio.wait_for(listening, 15)
    assert [c["status"] for c in first] == ["PENDING", "PAID"]

    # Away: two changes happen.
    for status in ("SHIPPED", "COMPLETED"):
        await api.data(MOVE, {"id": order, "s": status}, token=admin)
    resumed = await asyncio.wait_for(_changes(url, alice, first[0]["cursor"], 3), 15)
    assert [c["status"] for c in resumed] == ["PAID", "SHIPPED", "COMPLETED"]
    assert resumed[0]["eventId"] == first[1]["eventId"]
    assert resumed[0]["cursor"] == first[1]["cursor"]
    assert len({c["eventId"] for c in first + resumed}) == 4

    for cursor in ("not-a-cursor", "1-1", "99999999999999-1"):
        async with Client(transport=transport(url, alice)) as session:
            request = gql(RESUMABLE)
            request.variable_values = {"after": cursor}
            with pytest.raises(TransportQueryError) as raised:
                async for _ in session.subscribe(request):
                    pass
        assert raised.value.errors[0]["extensions"]["code"] == "INVALID_CURSOR", cursor  # type: ignore[index]


async def _raw_socket(api: Api, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(ws_url(api), protocols=["graphql-transport-ws"])


async def _acknowledged_socket(
    api: Api, session: aiohttp.ClientSession, payload: dict[str, str]
) -> aiohttp.ClientWebSocketResponse:
    """A socket whose connection_init (with this payload) the server acknowledged."""
    ws = await _raw_socket(api, session)
    await ws.send_json({"type": "connection_init", "payload": payload})
    assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
    return ws


async def test_protocol_errors_close_the_socket_and_the_server_keeps_serving(
    start_api: Any,
) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    _, alice, _ = await _shop(api)
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
    async with aiohttp.ClientSession() as session:
        # Subscribe before connection_init: 4401 Unauthorized.
        ws = await _raw_socket(api, session)
        await ws.send_json(subscribe)
        closed = await ws.receive(timeout=5)
        assert (closed.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 4401)

        # An unknown message type: 4400.
        ws = await _acknowledged_socket(api, session, {})
        await ws.send_json({"id": "1", "type": "teleport"})
        await ws.receive(timeout=5)
        assert ws.close_code == 4400

        # A subscription that does not parse: 4400, as graphql-transport-ws says.
        ws = await _acknowledged_socket(api, session, {"Authorization": f"Bearer {alice}"})
        await ws.send_json({"id": "a", "type": "subscribe", "payload": {"query": "subscription {"}})
        await ws.receive(timeout=5)
        assert ws.close_code == 4400

        # One that does not validate: an error message for that operation; the socket stays.
        ws = await _acknowledged_socket(api, session, {"Authorization": f"Bearer {alice}"})
        await ws.send_json(
            {"id": "b", "type": "subscribe", "payload": {"query": "subscription { nope }"}}
        )
        message = await ws.receive_json(timeout=5)
        assert (message["type"], message["id"]) == ("error", "b")
        assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"
        await ws.close()

        # An oversized payload (past aiohttp's 4 MB message limit): the server
        # closes with 1009 as soon as it reads the frame's length, often while
        # the client is still sending (which then sees the reset instead).
        ws = await _raw_socket(api, session)
        with contextlib.suppress(ConnectionError):
            await ws.send_json({"type": "connection_init", "payload": {"x": "y" * (5 * 1024**2)}})
        ended = await ws.receive(timeout=10)
        assert ended.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        )
        assert ws.close_code in (1009, 1006)  # 1006: the reset reached the client first

    # The server still answers.
    assert (await api.data("{ viewer { id } }", token=alice))["viewer"]["id"]


async def test_the_token_may_come_in_the_upgrade_requests_header(start_api: Any) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    _, alice, _ = await _shop(api)
    order_id = (await api.data(PLACE, {"p": "mug"}, token=alice))["placeOrder"]["id"]
    by_header = WebsocketsTransport(
        url=ws_url(api),
        headers={"Authorization": f"Bearer {alice}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        async with Client(transport=by_header) as session:
            request = gql(SUBSCRIPTION)
            request.variable_values = {"id": order_id}
            async for result in session.subscribe(request):
                received.append(result["orderStatusChanged"])
                return

    task = asyncio.create_task(listen())
    await asyncio.sleep(1)
    await api.data(MOVE, {"id": order_id, "s": "CANCELLED"}, token=alice)
    await asyncio.wait_for(task, 15)
    assert [(e["previousStatus"], e["status"]) for e in received] == [("PENDING", "CANCELLED")]
