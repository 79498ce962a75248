"""The server when its engine misbehaves: faults injected by tests/faultproxy.py.

Between the server and the real engine, the proxy throttles, fails, resets,
loses answers after the write, splits batches and cancels transactions. Each
test asserts what a client relies on: a correct answer or a clear error code,
and data never lost or written twice.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from shopgraph.data.dynamo import open_client
from shopgraph.data.table import ensure_table
from shopgraph.engine import EngineProcess, start_embedded
from shopgraph.settings import Settings
from tests.conftest import ENGINE, Api, table_items
from tests.faultproxy import Fault, FaultProxy, Rule
from tests.test_subscriptions import subscribed, ws_url
from tests.test_writes import (
    ADMIN_EMAIL,
    balances_by_user,
    create_product,
    entity_counts,
    set_points,
    sign_up,
    stock_of,
)

# What a client may be told when the store misbehaves: try again later.
TRANSIENT = {"THROTTLED", "UNAVAILABLE", "CONFLICT", "OVERLOADED"}
TRANSFER = """
mutation($i: TransferPointsInput!) {
  transferPoints(input: $i) { from { points } to { id } points }
}
"""
PLACE_ORDER = """
mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id total items { productId } } }
"""


@pytest.fixture
async def proxy(dynamo_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(dynamo_endpoint, seed=20261202) as proxy:
        yield proxy


@pytest.fixture
async def faulty(start_api: Any, proxy: FaultProxy) -> Api:
    """The server, talking to the engine through the proxy."""
    return await start_api(endpoint_url=proxy.url, admin_emails=frozenset({ADMIN_EMAIL}))


async def answer(api: Api, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    """The body of any answer, after checking it is one a client can act on."""
    response = await api.post({"query": query, "variables": variables}, token)
    body = await response.json()
    if response.status == 503:
        assert response.headers["Retry-After"], body
        assert codes_of(body) == ["OVERLOADED"], body
    else:
        assert response.status == 200, body
    return body


async def sign_up_many(api: Api, emails: list[str]) -> list[tuple[str, str]]:
    """Tokens and ids of new users, a few at a time: arranging, not the load under test."""
    gate = asyncio.Semaphore(4)

    async def one(email: str) -> tuple[str, str]:
        async with gate:
            return await sign_up(api, email)

    return await asyncio.gather(*(one(e) for e in emails))


def codes_of(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def store_faults(proxy: FaultProxy) -> None:
    """10% throttling, 5% 500s, 5% resets, 5% answers lost after the write."""
    for fault, share_left, share in (
        (Fault.THROTTLE, 1.0, 0.10),
        (Fault.SERVER_ERROR, 0.90, 0.05),
        (Fault.RESET, 0.85, 0.05),
        (Fault.LOST_RESPONSE, 0.80, 0.05),
    ):
        # Rules are tried in turn: each one's probability is of what is left.
        proxy.add(Rule(fault, probability=share / share_left))


# --- the bank -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    sender: int
    recipient: int
    points: int
    key: str


async def test_bank_under_faults_conserves_points_and_moves_each_transfer_once(
    faulty: Api, proxy: FaultProxy, db: Any
) -> None:
    users = await sign_up_many(faulty, [f"bank{n}@example.com" for n in range(20)])
    tokens = [token for token, _ in users]
    ids = [user_id for _, user_id in users]
    await asyncio.gather(*(set_points(db, user_id, 100) for user_id in ids))
    rng = random.Random(7)
    plan = []
    for n in range(500):
        sender = rng.randrange(20)
        recipient = rng.choice([i for i in range(20) if i != sender])
        plan.append(Planned(sender, recipient, rng.randint(1, 40), f"bank-{n}"))

    async def send(t: Planned) -> Any:
        variables = {"i": {"toUserId": ids[t.recipient], "points": t.points}}
        variables["i"]["idempotencyKey"] = t.key
        return await answer(faulty, TRANSFER, variables, tokens[t.sender])

    store_faults(proxy)
    gate = asyncio.Semaphore(50)

    async def first_try(t: Planned) -> Any:
        async with gate:
            return await send(t)

    first = await asyncio.gather(*(first_try(t) for t in plan))
    injected = Counter(proxy.injected)
    proxy.clear()

    outcomes: Counter[str] = Counter()
    final: dict[str, Any] = {}
    for t, body in zip(plan, first, strict=True):
        codes = codes_of(body)
        assert set(codes) <= TRANSIENT | {"INSUFFICIENT_POINTS"}, body
        outcomes[codes[0] if codes else "ok"] += 1
        if not codes:
            final[t.key] = body
    # Every fault kind was met, and many requests still got their answer.
    for fault in ("throttle", "server_error", "reset", "lost_response"):
        assert injected[fault] > 0, injected
    assert outcomes["ok"] >= 100, outcomes

    # Each transfer not settled is sent again under its key until it is: one
    # that took effect before its answer was lost answers as it did, once.
    for t in plan:
        while t.key not in final:
            body = await send(t)
            codes = codes_of(body)
            if not codes or codes == ["INSUFFICIENT_POINTS"]:
                final[t.key] = body
            else:
                assert set(codes) <= TRANSIENT, body

    expected = dict.fromkeys(ids, 100)
    for t in plan:
        body = final[t.key]
        if body.get("errors"):
            continue
        payload = body["data"]["transferPoints"]
        assert payload["points"] == t.points
        assert payload["from"]["points"] >= 0
        expected[ids[t.sender]] -= t.points
        expected[ids[t.recipient]] += t.points
    balances = await balances_by_user(db)
    assert sum(balances.values()) == 2000
    assert min(balances.values()) >= 0
    # Every transfer that answered success moved its points exactly once.
    assert balances == expected


# --- stock ----------------------------------------------------------------------------------------


async def test_oversell_with_conflicts_on_a_third_of_attempts_sells_exactly_five(
    faulty: Api, proxy: FaultProxy, db: Any
) -> None:
    admin, _ = await sign_up(faulty, ADMIN_EMAIL)
    buyers = [t for t, _ in await sign_up_many(faulty, [f"b{n}@example.com" for n in range(20)])]
    product = await create_product(faulty, admin, stock=5)
    proxy.add(Rule(Fault.CONFLICT, operations=frozenset({"TransactWriteItems"}), probability=1 / 3))

    order = {"i": {"items": [{"productId": product["id"], "quantity": 1}]}}
    bodies = await asyncio.gather(*(answer(faulty, PLACE_ORDER, order, token) for token in buyers))
    assert proxy.injected["conflict"] > 0

    sold = [b for b in bodies if not b.get("errors")]
    for body in bodies:
        assert set(codes_of(body)) <= {"OUT_OF_STOCK", "CONFLICT"}, body
    assert len(sold) == 5
    proxy.clear()
    assert await stock_of(faulty, product["id"]) == 0
    counts = entity_counts(await table_items(db))
    assert counts["Order"] == 5


# --- batches --------------------------------------------------------------------------------------

CATEGORY_PAGE = """
query { productsByCategory(category: "widgets", first: 20) { nodes { id name price viewCount } } }
"""


async def test_half_of_every_batch_unprocessed_still_answers_complete_and_in_order(
    faulty: Api, proxy: FaultProxy
) -> None:
    admin, _ = await sign_up(faulty, ADMIN_EMAIL)
    for n in range(12):
        await create_product(faulty, admin, name=f"Widget {n:02d}", price=f"{n + 1}.00")
    clean = await faulty.data(CATEGORY_PAGE)

    proxy.add(Rule(Fault.UNPROCESSED, operations=frozenset({"BatchGetItem"}), fraction=0.5))
    body = await faulty.gql(CATEGORY_PAGE)
    assert not body.get("errors"), body
    assert body["data"] == clean
    assert proxy.injected["unprocessed"] >= 2  # the keys held back were asked again
    # The page's one batch went out again for what came back unprocessed.
    assert body["extensions"]["cost"]["calls"]["BatchGetItem"] >= 2


# --- the engine gone and back ---------------------------------------------------------------------


class Outage:
    """Takes the engine away and brings it back, behind one proxy URL.

    DynamoDB Local runs on disk, so it is stopped and started again for real
    (a new process, on a new port the proxy then forwards to); moto keeps
    nothing across a restart, so it is cut off at the proxy instead.
    """

    def __init__(self, proxy: FaultProxy, data_dir: Any | None) -> None:
        self.proxy = proxy
        self.data_dir = data_dir
        self.engine: EngineProcess | None = None

    @property
    def url(self) -> str:
        return self.proxy.url

    def start_engine(self) -> None:
        self.engine = start_embedded("dynamodb-local", self.data_dir)
        self.proxy.upstream = self.engine.endpoint_url

    async def begin(self) -> None:
        if self.engine is None:
            await self.proxy.go_down()
            return
        await asyncio.to_thread(self.engine.stop)

    async def end(self) -> None:
        if self.engine is None:
            await self.proxy.come_back()
            return
        await asyncio.to_thread(self.start_engine)


@pytest.fixture
async def outage(dynamo_endpoint: str, table: str, tmp_path: Any) -> AsyncIterator[Outage]:
    async with FaultProxy(dynamo_endpoint) as proxy:
        if ENGINE == "moto":
            yield Outage(proxy, None)
            return
        restartable = Outage(proxy, tmp_path / "dynamodb")
        await asyncio.to_thread(restartable.start_engine)
        try:
            async with open_client(Settings(), endpoint_url=proxy.url) as client:
                await ensure_table(client, table)
            yield restartable
        finally:
            if restartable.engine is not None:
                await asyncio.to_thread(restartable.engine.stop)


async def readyz(api: Api) -> int:
    return (await api.http.get("/readyz")).status


async def ready_again(api: Api, within: float = 60) -> float:
    """Seconds until /readyz answers 200."""
    started = time.monotonic()
    while await readyz(api) != 200:
        assert time.monotonic() - started < within, "not ready again"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


PRODUCT_PAGE = "query($id: ID!) { product(id: $id) { id name stock viewCount } }"
MOVE = "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { status } }"
OUTAGE_SECONDS = 30


async def test_engine_gone_for_30_s_answers_unavailable_in_time_then_serves_without_restart(
    start_api: Any, outage: Outage
) -> None:
    deadline = 5.0  # the default
    api = await start_api(
        endpoint_url=outage.url, admin_emails=frozenset({ADMIN_EMAIL}), request_deadline=deadline
    )
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer = await api.sign_up("steady@example.com")
    product = await create_product(api, admin, stock=100)
    order = {"i": {"items": [{"productId": product["id"], "quantity": 1}]}}
    assert await readyz(api) == 200

    await outage.begin()
    window_ends = time.monotonic() + OUTAGE_SECONDS
    answered = 0
    while time.monotonic() < window_ends:
        for query, variables, token in (
            (PRODUCT_PAGE, {"id": product["id"]}, None),
            (PLACE_ORDER, order, customer),
        ):
            started = time.monotonic()
            body = await answer(api, query, variables, token)
            assert codes_of(body) == ["UNAVAILABLE"], body
            assert time.monotonic() - started < deadline + 1.0
            answered += 1
        assert (await api.http.get("/healthz")).status == 200
        assert await readyz(api) == 503
        await asyncio.sleep(1)
    assert answered >= 20
    await outage.end()

    await ready_again(api)
    assert (await api.data(PRODUCT_PAGE, {"id": product["id"]}))["product"]["stock"] == 100
    placed = (await api.data(PLACE_ORDER, order, token=customer))["placeOrder"]
    moved = await api.data(MOVE, {"id": placed["id"], "s": "PAID"}, token=admin)
    assert moved["updateOrderStatus"]["status"] == "PAID"
    await api.log_in("steady@example.com", "correct-horse")
    await api.sign_up("after@example.com")
    # Nothing sent during the outage was applied: one order, one unit sold.
    assert (await api.data(PRODUCT_PAGE, {"id": product["id"]}))["product"]["stock"] == 99


STATS = "query($d: String!) { salesStats(day: $d) { completedOrders revenue } }"
PLACE_ONE = (
    "mutation($p: ID!) { placeOrder(input: {items: [{productId: $p, quantity: 1}]}) { id total } }"
)
MOVE_AT = """
mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { updatedAt } }
"""


@dataclass(frozen=True)
class Completed:
    order_id: str
    total: Decimal
    day: str  # the UTC day it was completed, as salesStats counts it


async def complete_orders(
    api: Api, admin: str, customer: str, product_id: str, count: int
) -> list[Completed]:
    done = []
    for _ in range(count):
        order = (await api.data(PLACE_ONE, {"p": product_id}, token=customer))["placeOrder"]
        for status in ("PAID", "SHIPPED", "COMPLETED"):
            moved = await api.data(MOVE_AT, {"id": order["id"], "s": status}, token=admin)
        at = moved["updateOrderStatus"]["updatedAt"]
        done.append(Completed(order["id"], Decimal(order["total"]), at[:10]))
    return done


async def test_stream_across_an_engine_restart_delivers_each_change_once_and_counts_once(
    start_api: Any, outage: Outage
) -> None:
    api = await start_api(
        endpoint_url=outage.url, admin_emails=frozenset({ADMIN_EMAIL}), stream_consumer=True
    )
    admin, _ = await sign_up(api, ADMIN_EMAIL)
    customer = await api.sign_up("streamed@example.com")
    product = await create_product(api, admin, price="12.50")
    steps = [(None, "PENDING"), ("PENDING", "PAID"), ("PAID", "SHIPPED"), ("SHIPPED", "COMPLETED")]

    async with subscribed(ws_url(api), customer) as events:
        before = await complete_orders(api, admin, customer, product["id"], 3)
        received = [await asyncio.wait_for(events.get(), 30) for _ in range(12)]
        await outage.begin()
        await asyncio.sleep(10)
        await outage.end()
        await ready_again(api)
        after = await complete_orders(api, admin, customer, product["id"], 3)
        received += [await asyncio.wait_for(events.get(), 60) for _ in range(12)]
        await asyncio.sleep(3)
        assert events.empty(), "a change was delivered twice"

    changes = Counter((e["order"]["id"], e["previousStatus"], e["status"]) for _, e in received)
    expected = Counter((c.order_id, *step) for c in before + after for step in steps)
    assert changes == expected

    # salesStats: each completed order counted once into its day.
    wanted: dict[str, dict[str, Any]] = {}
    for c in before + after:
        day = wanted.setdefault(c.day, {"completedOrders": 0, "revenue": Decimal(0)})
        day["completedOrders"] += 1
        day["revenue"] += c.total
    settle_by = time.monotonic() + 30
    for day, stats in wanted.items():
        while True:
            got = (await api.data(STATS, {"d": day}, token=admin))["salesStats"]
            if got["completedOrders"] >= stats["completedOrders"] or time.monotonic() > settle_by:
                break
            await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    for day, stats in wanted.items():
        got = (await api.data(STATS, {"d": day}, token=admin))["salesStats"]
        assert got == {**stats, "revenue": str(stats["revenue"])}


# --- deadlines and start-up -----------------------------------------------------------------------


async def test_a_stalled_engine_answers_unavailable_by_the_deadline(
    start_api: Any, proxy: FaultProxy
) -> None:
    api = await start_api(endpoint_url=proxy.url, request_deadline=1.5)
    stall = proxy.add(Rule(Fault.LATENCY, latency=30.0))

    started = time.monotonic()
    body = await answer(api, CATEGORY_PAGE, {})
    assert codes_of(body) == ["UNAVAILABLE"], body
    assert time.monotonic() - started < 1.5 + 1.0
    assert await readyz(api) == 503

    proxy.remove(stall)
    await ready_again(api)
    assert (await api.data(CATEGORY_PAGE))["productsByCategory"]["nodes"] == []


async def test_serve_started_while_the_engine_is_unreachable_waits_for_it(
    serve: Any, proxy: FaultProxy
) -> None:
    await proxy.go_down()
    served = await serve(
        wait=False,
        AWS_ENDPOINT_URL_DYNAMODB=proxy.url,
        SHOPGRAPH_TABLE=f"shopgraph-late-{uuid.uuid4().hex[:8]}",
        SHOPGRAPH_SECRET="late-secret",
    )
    async with aiohttp.ClientSession(base_url=served.base) as http:

        async def status(path: str) -> int | None:
            try:
                async with http.get(path) as response:
                    return response.status
            except aiohttp.ClientError:
                return None

        started = time.monotonic()
        while await status("/healthz") != 200:
            assert served.process.returncode is None, served.output
            assert time.monotonic() - started < 60, served.output
            await asyncio.sleep(0.2)
        assert await status("/readyz") == 503
        async with http.post("/graphql", json={"query": CATEGORY_PAGE}) as response:
            assert response.status == 200
            assert codes_of(await response.json()) == ["UNAVAILABLE"]

        await proxy.come_back()
        started = time.monotonic()
        while await status("/readyz") != 200:
            assert time.monotonic() - started < 30, served.output
            await asyncio.sleep(0.2)
        async with http.post("/graphql", json={"query": CATEGORY_PAGE}) as response:
            body = await response.json()
        assert body["data"] == {"productsByCategory": {"nodes": []}}, body
    assert "cannot be reached yet" in served.output
    assert "created table" in served.output
