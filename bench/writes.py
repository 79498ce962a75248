"""The benches' writes: placeOrder, transferPoints and updateOrderStatus on a demo dataset,
each checked, in a way that can go on for as long as a soak does.

- placeOrder of 1 to 3 lines, on products `prepare` creates (no stock, so none
  sells out), by customers who do not transfer points;
- transferPoints of 1 point, back and forth within pairs of customers who have points;
- updateOrderStatus (as admin), each moving an order a placeOrder of this run
  placed one step along PENDING -> PAID -> SHIPPED -> COMPLETED.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.load import GraphQLClient
from shopgraph.data.seed import ADMIN_EMAIL, customer_email

MUTATIONS = ("placeOrder", "transferPoints", "updateOrderStatus")
PRODUCTS = 24  # placeOrder k takes products 3k, 3k+1, 3k+2 (mod 24): 8 disjoint triples
TRANSFER_PAIRS = 8
MIN_TRANSFER_POINTS = 2  # each side of a pair may send before it has received
NEXT_STATUS = {"PENDING": "PAID", "PAID": "SHIPPED", "SHIPPED": "COMPLETED"}

VIEWER = "query Viewer { viewer { id role points } }"
CREATE_PRODUCT = (
    "mutation CreateSoakProduct($id: ID!) { createProduct(input: {id: $id, name: "
    '"Soak", category: "soak", price: "4.99"}) { id stock } }'
)
PLACE_ORDER = (
    "mutation PlaceOrder($items: [OrderLineInput!]!) {"
    " placeOrder(input: {items: $items}) { id status total } }"
)
TRANSFER = (
    "mutation Transfer($to: ID!) { transferPoints(input: {toUserId: $to, points: 1}) { points } }"
)
MOVE_ORDER = (
    "mutation Move($id: ID!, $status: OrderStatus!) {"
    " updateOrderStatus(id: $id, status: $status) { id status } }"
)


# --------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class Account:
    user_id: str
    token: str
    points: int


@dataclass(frozen=True)
class Plan:
    admin: str
    placers: list[Account]
    pairs: list[tuple[Account, Account]]
    products: list[str]

    @property
    def customers(self) -> list[Account]:
        return [*self.placers, *(a for pair in self.pairs for a in pair)]


async def log_in(client: GraphQLClient, email: str, password: str) -> Account:
    token = await client.log_in(email, password)
    viewer = await client.call(VIEWER, {}, "viewer", token)
    return Account(viewer["id"], token, int(viewer["points"]))


async def log_in_customers(client: GraphQLClient, password: str, customers: int) -> list[Account]:
    limit = asyncio.Semaphore(4)  # scrypt per logIn: a few at a time

    async def one(n: int) -> Account:
        async with limit:
            return await log_in(client, customer_email(n), password)

    return list(await asyncio.gather(*(one(n) for n in range(1, customers + 1))))


def split_customers(
    customers: list[Account],
) -> tuple[list[Account], list[tuple[Account, Account]]]:
    """Pairs for the transfers from the customers with points; the others place orders.

    Kept apart, a transfer never contends with the points a COMPLETED order awards.
    """
    rich = [c for c in customers if c.points >= MIN_TRANSFER_POINTS]
    senders = rich[: 2 * TRANSFER_PAIRS]
    if len(senders) < 2:
        raise SystemExit("error: fewer than two demo customers have points to transfer")
    senders = senders[: len(senders) // 2 * 2]
    pairs = list(zip(senders[0::2], senders[1::2], strict=True))
    placers = [c for c in customers if c not in senders] or customers
    return placers, pairs


async def prepare(client: GraphQLClient, password: str, customers: int) -> Plan:
    """Signs in the admin and customers 1..`customers`; creates the products orders take."""
    admin = await log_in(client, ADMIN_EMAIL, password)
    products = [f"soak-{n:02d}" for n in range(1, PRODUCTS + 1)]
    for product_id in products:
        created = await client.call(
            CREATE_PRODUCT, {"id": product_id}, "createProduct", admin.token
        )
        if created.get("stock") is not None:
            raise SystemExit(f"error: product {product_id} tracks stock: {created}")
    placers, pairs = split_customers(await log_in_customers(client, password, customers))
    return Plan(admin.token, placers, pairs, products)


# --------------------------------------------------------------------------- the writes


@dataclass
class Sample:
    mutation: str
    ms: float
    error: str | None = None
    # The error's kind (GraphQL code, HTTP status, exception), for tallies.
    code: str | None = None
    answered: bool = True  # False: no answer came (or, NO_ORDER, nothing was sent)


@dataclass
class PlacedOrder:
    order_id: str
    status: str


class Writes:
    """Each write checked; the orders placed wait, oldest first, for their next step."""

    def __init__(self, client: GraphQLClient, plan: Plan, request_timeout: float) -> None:
        self.client = client
        self.plan = plan
        self.request_timeout = request_timeout
        self.orders: asyncio.Queue[PlacedOrder] = asyncio.Queue()
        self.transitions: Counter[str] = Counter()
        # time.monotonic(): an updateOrderStatus waits for an order no later than this.
        self.deadline = float("inf")

    async def timed(
        self, mutation: str, document: str, variables: dict[str, Any], token: str
    ) -> tuple[Sample, dict[str, Any] | None]:
        sample, body = await self.client.send(document, variables, token, expect=mutation)
        value = body["data"][mutation] if sample.error is None else None
        timed = Sample(mutation, sample.latency_ms, sample.error, sample.code, sample.answered)
        return timed, value

    async def place_order(self, k: int, lines: int = 3) -> Sample:
        placer = self.plan.placers[k % len(self.plan.placers)]
        products = self.plan.products
        first = 3 * k % len(products)
        items = [
            {"productId": products[(first + n) % len(products)], "quantity": 1}
            for n in range(lines)
        ]
        sample, order = await self.timed("placeOrder", PLACE_ORDER, {"items": items}, placer.token)
        if sample.error is None and order is not None:
            if order.get("status") != "PENDING" or not order.get("id"):
                sample.error, sample.code = f"placeOrder answered {order}", "BAD_ANSWER"
            else:
                self.orders.put_nowait(PlacedOrder(order["id"], "PENDING"))
        return sample

    async def transfer(self, k: int) -> Sample:
        pairs = self.plan.pairs
        first, second = pairs[k % len(pairs)]
        # Each pair sends one way, then (a round of pairs later) back: balances stay put.
        sender, recipient = (first, second) if (k // len(pairs)) % 2 == 0 else (second, first)
        variables = {"to": recipient.user_id}
        sample, payload = await self.timed("transferPoints", TRANSFER, variables, sender.token)
        if sample.error is None and payload is not None and payload.get("points") != 1:
            sample.error, sample.code = f"transferPoints answered {payload}", "BAD_ANSWER"
        return sample

    async def next_order(self) -> PlacedOrder | None:
        """The order that has waited longest for its next step; None past the timeout."""
        wait = max(0.1, min(self.request_timeout, self.deadline - time.monotonic()))
        try:
            return await asyncio.wait_for(self.orders.get(), timeout=wait)
        except TimeoutError:
            return None

    async def move_order(self) -> Sample:
        order = await self.next_order()
        if order is None:
            error = "no order of this run left to move"
            return Sample("updateOrderStatus", 0.0, error, "NO_ORDER", answered=False)
        target = NEXT_STATUS[order.status]
        variables = {"id": order.order_id, "status": target}
        sample, moved = await self.timed(
            "updateOrderStatus", MOVE_ORDER, variables, self.plan.admin
        )
        if sample.error is None and moved is not None:
            if moved.get("status") != target:
                sample.error = f"updateOrderStatus to {target} answered {moved}"
                sample.code = "BAD_ANSWER"
            else:
                self.transitions[target] += 1
                if target in NEXT_STATUS:
                    self.orders.put_nowait(PlacedOrder(order.order_id, target))
        return sample
