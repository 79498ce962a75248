"""orderStatusChanged through Hive Gateway: graphql-ws from the client to the
gateway, and from the gateway to shopgraph, with the reviews subgraph's fields
resolved into each event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError

from tests.conftest import Api
from tests.reviews_subgraph import REVIEWS, node_gateway, reviews_server
from tests.test_subscriptions import subscribed, transport

ADMINS = frozenset({"admin@example.com"})
SUBSCRIPTION = """
subscription Watch($id: ID) {
  orderStatusChanged(orderId: $id) {
    order { id number user { name reviewsWritten { body product { name } } } }
    previousStatus status
  }
}
"""
PLACE = "mutation($p: ID!) { placeOrder(input: {items: [{productId: $p, quantity: 1}]}) { id } }"
MOVE = "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { status } }"


@pytest.fixture
def gateway_log(tmp_path: Path) -> Path:
    return tmp_path / "hive_gateway.log"


@pytest.fixture
async def hive(
    start_api: Any, node_tools: Path, gateway_log: Path
) -> AsyncIterator[tuple[Api, str]]:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    async with reviews_server() as reviews:
        subgraphs = {"shopgraph": str(api.http.make_url("/graphql")), "reviews": reviews}
        async with node_gateway(
            node_tools / "hive_gateway.mjs", subgraphs, gateway_log, GATEWAY_LOG_LEVEL="debug"
        ) as url:
            yield api, url


async def through(url: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    """A query or mutation sent to the gateway, as the signed-in user."""
    headers = {"Authorization": f"Bearer {token}"}
    request = {"query": query, "variables": variables}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=request, headers=headers) as response,
    ):
        body = await response.json()
    assert not body.get("errors"), body
    return body["data"]


def ws(url: str) -> str:
    return url.replace("http://", "ws://")


async def test_a_status_change_reaches_the_customer_with_the_other_subgraphs_fields(
    hive: tuple[Api, str], gateway_log: Path
) -> None:
    api, url = hive
    admin = await api.sign_up("admin@example.com")
    alice = await api.sign_up("alice@example.com", name="Alice")
    await api.data(
        'mutation { createProduct(input: {id: "mug", name: "Mug", category: "kitchen", '
        'price: "8.50", stock: 100}) { id } }',
        token=admin,
    )
    alice_id = (await api.data("{ viewer { id } }", token=alice))["viewer"]["id"]
    REVIEWS.clear()
    REVIEWS["mug"] = [("Holds tea", alice_id)]
    order = (await through(url, PLACE, {"p": "mug"}, alice))["placeOrder"]["id"]

    # settle: the subscription reaches shopgraph through the gateway.
    async with subscribed(ws(url), alice, order, document=SUBSCRIPTION, settle=1) as events:
        await through(url, MOVE, {"id": order, "s": "CANCELLED"}, alice)
        _, changed = await asyncio.wait_for(events.get(), 15)
    print(json.dumps({"orderStatusChanged": changed}))

    # The gateway took it from shopgraph over graphql-ws (its debug log says
    # so), signed in as Alice by her connection_init: her order was hers.
    log = await asyncio.to_thread(gateway_log.read_text)
    shopgraph_ws = str(api.http.make_url("/graphql")).replace("http://", "ws://")
    assert 'executor: "GraphQL WS"' in log and f'wsUrl: "{shopgraph_ws}"' in log
    assert "DBG connected" in log

    assert (changed["previousStatus"], changed["status"]) == ("PENDING", "CANCELLED")
    assert changed["order"]["id"] == order
    # The user from shopgraph, what they wrote from the reviews subgraph, and
    # the product they wrote it about from shopgraph again.
    assert changed["order"]["user"] == {
        "name": "Alice",
        "reviewsWritten": [{"body": "Holds tea", "product": {"name": "Mug"}}],
    }


async def test_another_customers_order_is_refused(hive: tuple[Api, str]) -> None:
    api, url = hive
    alice = await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    admin = await api.sign_up("admin@example.com")
    await api.data(
        'mutation { createProduct(input: {id: "mug", name: "Mug", category: "kitchen", '
        'price: "8.50", stock: 100}) { id } }',
        token=admin,
    )
    alices = (await through(url, PLACE, {"p": "mug"}, alice))["placeOrder"]["id"]
    async with Client(transport=transport(ws(url), bob)) as session:
        request = gql(SUBSCRIPTION)
        request.variable_values = {"id": alices}
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(request):
                pass
    assert raised.value.errors[0]["extensions"]["code"] == "FORBIDDEN", raised.value.errors  # type: ignore[index]
