"""shopgraph through Apollo Client, used as a frontend uses it (tests/node/apollo_client.mjs).

The real client (@apollo/client 4, in Node) runs against the live server: its
normalized InMemoryCache answers repeated queries without a request, a
mutation's result updates the page that shows the entity, automatic persisted
queries go hash first and text once (over POST, and GET for hashed queries),
and a subscription over graphql-ws delivers order status changes into the same
cache. Every HTTP request the client makes is recorded by the fetch it is given.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import Api
from tests.ids import global_id

ADMINS = frozenset({"admin@example.com"})
CREATE = "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }"
# A delivered change is within ~1 s; the bound allows for a loaded machine.
DELIVERY_BOUND_MS = 5000

MUG, TEAPOT = global_id("Product", "mug"), global_id("Product", "teapot")


async def _shop(api: Api) -> tuple[str, str]:
    """An admin, a customer, and two kitchen products: mug and teapot."""
    admin = await api.sign_up("admin@example.com")
    customer = await api.sign_up("carol@example.com", name="Carol")
    for id_, name, price in (("mug", "Mug", "8.50"), ("teapot", "Teapot", "24.00")):
        product = {"id": id_, "name": name, "category": "kitchen", "price": price, "stock": 50}
        await api.data(CREATE, {"i": product}, token=admin)
    return admin, customer


async def _run(node_tools: Path, api: Api, scenario: str, **tokens: str) -> dict[str, Any]:
    """The scenario's JSON result; its stderr in the failure when it fails."""
    env = {**os.environ, "SHOPGRAPH_URL": str(api.http.make_url("/graphql")), **tokens}
    process = await asyncio.create_subprocess_exec(
        "node",
        str(node_tools / "apollo_client.mjs"),
        scenario,
        env=env,
        cwd=node_tools,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 90)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        raise AssertionError(f"apollo_client.mjs {scenario} hung:\n{err.decode()}") from None
    assert process.returncode == 0, (
        f"apollo_client.mjs {scenario} exited {process.returncode}:\n{err.decode()}"
    )
    return json.loads(out.decode().strip().splitlines()[-1])


def _operations(requests: list[dict[str, Any]]) -> list[str]:
    return [r["payload"].get("operationName") for r in requests]


async def test_the_normalized_cache_answers_repeated_queries(
    start_api: Any, node_tools: Path
) -> None:
    api = await start_api(admin_emails=ADMINS)
    _, customer = await _shop(api)

    seen = await _run(node_tools, api, "cache", CUSTOMER_TOKEN=customer)

    # Asked by the stored id "mug" (old ids keep working), answered with the global id.
    mug = {"__typename": "Product", "id": MUG, "name": "Mug", "price": "8.50"}
    assert seen["first"] == seen["second"] == {"product": mug}
    # Two identical queries, one request.
    assert seen["requestsAfterTwoQueries"] == 1
    # The list page is the only other request: the teapot's page is read from
    # the entity the list put in the cache.
    assert _operations(seen["requests"]) == ["Product", "Category"]
    assert all(r["method"] == "POST" and r["status"] == 200 for r in seen["requests"])
    assert seen["listed"] == [MUG, TEAPOT]
    assert seen["other"]["product"]["name"] == "Teapot"
    assert {f'Product:{{"id":"{MUG}"}}', f'Product:{{"id":"{TEAPOT}"}}'} <= set(seen["cacheIds"])


async def test_a_mutation_result_updates_the_page_that_shows_the_entity(
    start_api: Any, node_tools: Path
) -> None:
    api = await start_api(admin_emails=ADMINS)
    admin, _ = await _shop(api)

    seen = await _run(node_tools, api, "mutation", ADMIN_TOKEN=admin)

    # The page's query and the mutation: the page's new values came from the
    # mutation's result, not from another request.
    assert _operations(seen["requests"]) == ["Product", "UpdateProduct"]
    assert seen["requests"][1]["payload"]["variables"] == {
        "id": "mug",
        "input": {"price": "9.75", "name": "Mug (large)"},
    }
    before, after = seen["watched"][0], seen["watched"][-1]
    assert (before["name"], before["price"]) == ("Mug", "8.50")
    assert (after["name"], after["price"]) == ("Mug (large)", "9.75")
    assert seen["mutated"]["price"] == "9.75"
    expected = {"product": {"__typename": "Product", "id": MUG, **{k: after[k] for k in after}}}
    assert seen["readQuery"] == seen["cacheOnly"] == expected
    # And the server has it.
    stored = await api.data('{ product(id: "mug") { name price } }')
    assert stored["product"] == {"name": "Mug (large)", "price": "9.75"}


def _persisted(request: dict[str, Any]) -> tuple[str, bool, str]:
    """(method, whether the query text was sent, the hash sent)."""
    payload = request["payload"]
    sent = payload["extensions"]["persistedQuery"]
    assert sent["version"] == 1
    if "query" in payload:
        assert hashlib.sha256(payload["query"].encode()).hexdigest() == sent["sha256Hash"]
    return request["method"], "query" in payload, sent["sha256Hash"]


async def test_automatic_persisted_queries_through_the_client(
    start_api: Any, node_tools: Path
) -> None:
    api = await start_api(admin_emails=ADMINS)
    await _shop(api)

    seen = await _run(node_tools, api, "apq")

    # POST: the hash alone (unknown: PersistedQueryNotFound, a 400 with
    # application/graphql-response+json), the retry with the text, then the
    # hash alone from a new client and again with network-only.
    post = [_persisted(r) for r in seen["post"]]
    digest = post[0][2]
    assert post == [("POST", False, digest), ("POST", True, digest)] + [("POST", False, digest)] * 2
    assert [r["status"] for r in seen["post"]] == [400, 200, 200, 200]
    mug = {"product": {"__typename": "Product", "id": MUG, "name": "Mug"}}
    assert seen["results"] == [mug] * 3

    # useGETForHashedQueries: the hash alone goes as a GET (a URL a CDN can
    # cache), the retry with the text as a POST; a new client's GET then succeeds.
    get = [_persisted(r) for r in seen["get"]]
    by_hash, with_text = ("GET", False, get[0][2]), ("POST", True, get[0][2])
    assert get[:3] == [by_hash, with_text, by_hash]
    assert [r["status"] for r in seen["get"][:3]] == [400, 200, 200]
    url = urlsplit(seen["get"][2]["url"])
    assert sorted(parse_qs(url.query)) == ["extensions", "operationName", "variables"]
    price = {"product": {"__typename": "Product", "id": MUG, "price": "8.50"}}
    assert seen["getResults"] == [price] * 2
    # A mutation is never a GET: hash alone, then with the text, both POSTs;
    # it ran once (the first attempt never reached execution).
    mutation_digest = _persisted(seen["get"][3])[2]
    assert [_persisted(r) for r in seen["get"][3:]] == [
        ("POST", False, mutation_digest),
        ("POST", True, mutation_digest),
    ]
    assert seen["mutation"] == {"recordProductView": True}
    viewed = await api.data('{ product(id: "mug") { viewCount } }')
    assert viewed["product"]["viewCount"] == 1


async def test_a_subscription_over_graphql_ws_updates_the_order_page(
    start_api: Any, node_tools: Path
) -> None:
    api = await start_api(admin_emails=ADMINS, stream_consumer=True)
    admin, customer = await _shop(api)

    seen = await _run(node_tools, api, "subscription", ADMIN_TOKEN=admin, CUSTOMER_TOKEN=customer)

    order = seen["placed"]
    assert order["status"] == "PENDING"
    assert [(e["previousStatus"], e["status"]) for e in seen["events"]] == [
        (None, "PENDING"),
        ("PENDING", "PAID"),
        ("PAID", "SHIPPED"),
    ]
    assert {e["order"]["id"] for e in seen["events"]} == {order["id"]}
    assert all(0 <= d < DELIVERY_BOUND_MS for d in seen["delaysMs"]), seen["delaysMs"]
    # The order page opened from the cache the checkout filled, and followed
    # the changes the socket brought: the customer's only HTTP request was
    # placing the order (the subscription went over the socket).
    assert seen["watchedStatuses"] == ["PENDING", "PAID", "SHIPPED"]
    assert _operations(seen["requests"]) == ["PlaceOrder"]
    assert seen["adminRequests"] == 2
    stored = await api.data(
        "query($id: ID!) { order(id: $id) { status } }", {"id": order["id"]}, token=customer
    )
    assert stored["order"]["status"] == "SHIPPED"
