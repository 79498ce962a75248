"""shopgraph benchmark: DynamoDB calls, capacity and latency of typical pages.

Starts an engine (DynamoDB Local, moto's server or a given endpoint), loads the
demo dataset into a fresh table, runs the real server as a subprocess on
127.0.0.1, and sends a fixed set of GraphQL queries at a few concurrency levels.
Everything it starts it stops again, on failure too.

    .venv/bin/python -m bench.pages --engine moto --customers 20 --products 100
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.cli import exit_on_sigterm, non_negative_int, positive_int, positive_int_list
from bench.data import drop_table, load_dataset, new_table_name
from bench.engines import (
    add_engine_arguments,
    check_engine_arguments,
    open_engine,
    use_local_credentials,
)
from bench.load import GraphQLClient, Sample, describe_error, open_session, run_workers
from bench.queries import PROFILE_PAGE
from bench.report import Table, machine, number, percentile, print_json, print_machine
from bench.server import endpoint_env, served
from shopgraph.data.seed import ADMIN_EMAIL, SeedOptions, customer_email
from shopgraph.settings import Settings

# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class BenchQuery:
    name: str
    document: str
    # "anonymous", "customer", "customer2" or "admin": whose token goes with the
    # request; a callable picks it for the i-th request.
    role: str | Callable[[int], str]
    # Variables of the i-th request, given the number of products.
    variables: Callable[[int, int], dict[str, Any]] = lambda i, products: {}

    def role_of(self, i: int) -> str:
        return self.role(i) if callable(self.role) else self.role


def product_variables(i: int, products: int) -> dict[str, Any]:
    return {"id": f"p{i % products + 1:05d}"}


QUERIES = (
    BenchQuery(
        "product page",
        "query ProductPage($id: ID!) { product(id: $id) { name price stock viewCount } }",
        "anonymous",
        product_variables,
    ),
    BenchQuery(
        "category page",
        'query CategoryPage { productsByCategory(category: "books", first: 20) {'
        " nodes { id name price viewCount } pageInfo { hasNextPage endCursor } } }",
        "anonymous",
    ),
    BenchQuery("profile page", PROFILE_PAGE, "customer"),
    BenchQuery(
        "orders by status",
        "query OrdersByStatus { ordersByStatus(status: COMPLETED, first: 20) {"
        " nodes { number total user { name } } } }",
        "admin",
    ),
)

# Writes. The products an order takes do not track stock, so no run sells out;
# every updateOrderStatus moves an order of its own from PENDING to PAID; the
# transfers go back and forth between two customers, so balances stay put.
BENCH_PRODUCTS = ("bench-a", "bench-b", "bench-c")
CREATE_PRODUCT = (
    'mutation CreateBenchProduct($id: ID!) { createProduct(input: {id: $id, name: "Bench",'
    ' category: "bench", price: "9.99"}) { id } }'
)
PLACE_ORDER = (
    "mutation PlaceOrder($items: [OrderLineInput!]!) {"
    " placeOrder(input: {items: $items}) { id total status } }"
)
MOVE_ORDER = "mutation PayOrder($id: ID!) { updateOrderStatus(id: $id, status: PAID) { status } }"
TRANSFER = (
    "mutation Transfer($to: ID!) { transferPoints(input: {toUserId: $to, points: 1}) { points } }"
)
ORDER_LINES = [{"productId": p, "quantity": 1} for p in BENCH_PRODUCTS]
PENDING_ORDERS: list[str] = []  # filled before the updateOrderStatus rows


WRITES = (
    BenchQuery(
        "placeOrder 3 lines", PLACE_ORDER, "customer", lambda i, products: {"items": ORDER_LINES}
    ),
    BenchQuery(
        "updateOrderStatus",
        MOVE_ORDER,
        "admin",
        lambda i, products: {"id": PENDING_ORDERS.pop()},
    ),
    BenchQuery(
        "transferPoints",
        TRANSFER,
        lambda i: "customer" if i % 2 == 0 else "customer2",
        lambda i, products: {"to": "customer2" if i % 2 == 0 else "customer1"},
    ),
)

WHO_AM_I = "query WhoAmI { viewer { id role } }"


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_engine_arguments(parser)
    parser.add_argument("--customers", type=positive_int, default=200)
    parser.add_argument("--products", type=positive_int, default=1000)
    parser.add_argument("--orders-per-customer", type=non_negative_int, default=20)
    parser.add_argument("--requests", type=positive_int, default=200, help="per query and level")
    parser.add_argument("--concurrency", type=positive_int_list, default=[1, 16], help="e.g. 1,16")
    parser.add_argument("--warmup", type=non_negative_int, default=10, help="requests per query")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time budget per row")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="server start, s")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_engine_arguments(parser, args)
    return args


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    query: str
    concurrency: int
    requests: int
    calls_per_request: float | None
    calls_by_operation: dict[str, float]
    read_units_per_request: float | None
    write_units_per_request: float | None
    # The cost the server reckoned before running it; what it read and wrote is the two above.
    requested_cost: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests_per_second: float
    errors: int
    first_error: str | None = field(default=None, repr=False)


class PageClient:
    """The GraphQL client with a token per role and the dataset's product count."""

    def __init__(self, client: GraphQLClient, products: int) -> None:
        self.client = client
        self.products = products
        self.tokens: dict[str, str] = {}

    async def post(self, document: str, variables: dict[str, Any], role: str) -> tuple[int, Any]:
        return await self.client.post(document, variables, self.tokens.get(role))

    async def send(self, query: BenchQuery, i: int) -> Sample:
        variables = query.variables(i, self.products)
        sample, _ = await self.client.send(
            query.document, variables, self.tokens.get(query.role_of(i))
        )
        return sample

    async def log_in(self, role: str, email: str, password: str) -> None:
        self.tokens[role] = await self.client.log_in(email, password)
        _, body = await self.post(WHO_AM_I, {}, role)
        viewer = (body.get("data") or {}).get("viewer") if isinstance(body, dict) else None
        if not viewer:
            raise SystemExit(f"error: the token of {email} is not accepted: {body}")


def mean_calls(samples: list[Sample]) -> tuple[float | None, dict[str, float]]:
    measured = [s.calls for s in samples if s.calls is not None]
    if not measured:
        return None, {}
    by_operation: Counter[str] = Counter()
    for calls in measured:
        by_operation.update(calls)
    means = {op: by_operation[op] / len(measured) for op in sorted(by_operation)}
    return sum(means.values()), means


def summarize(query: str, concurrency: int, samples: list[Sample], wall: float) -> Row:
    latencies = [s.latency_ms for s in samples]
    calls, by_operation = mean_calls(samples)
    units = [s.read_units for s in samples if s.read_units is not None]
    written = [s.write_units for s in samples if s.write_units is not None]
    requested = [s.requested_cost for s in samples if s.requested_cost is not None]
    failures = [s.error for s in samples if s.error]
    return Row(
        query=query,
        concurrency=concurrency,
        requests=len(samples),
        calls_per_request=calls,
        calls_by_operation=by_operation,
        read_units_per_request=statistics.fmean(units) if units else None,
        write_units_per_request=statistics.fmean(written) if written else None,
        requested_cost=statistics.fmean(requested) if requested else None,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=0.0),
        requests_per_second=len(samples) / wall if wall > 0 else 0.0,
        errors=len(failures),
        first_error=failures[0] if failures else None,
    )


async def run_level(
    client: PageClient, query: BenchQuery, concurrency: int, requests: int, budget: float
) -> Row:
    """`requests` requests from `concurrency` workers, stopping early past `budget` seconds."""
    indices = iter(range(requests))
    samples: list[Sample] = []
    deadline = time.monotonic() + budget

    async def worker() -> None:
        for i in indices:  # shared: each index goes to one worker
            if time.monotonic() > deadline:
                return
            samples.append(await client.send(query, i))

    wall = await run_workers(concurrency, worker)
    return summarize(query.name, concurrency, samples, wall)


async def prepare_writes(client: PageClient, args: argparse.Namespace) -> None:
    """The products the orders take, and one PENDING order per updateOrderStatus request."""
    for product_id in BENCH_PRODUCTS:
        status, body = await client.post(CREATE_PRODUCT, {"id": product_id}, "admin")
        if error := describe_error(body, status):
            raise SystemExit(f"error: creating {product_id} failed: {error}")
    # Each transfer moves one point between customer1 and customer2: give both
    # a float of points by completing orders of their own.
    for role in ("customer", "customer2"):
        for _ in range(max(args.concurrency) // 20 + 1):
            status, body = await client.post(PLACE_ORDER, {"items": ORDER_LINES}, role)
            if error := describe_error(body, status):
                raise SystemExit(f"error: placing an order failed: {error}")
            order_id = body["data"]["placeOrder"]["id"]
            for step in ("PAID", "SHIPPED", "COMPLETED"):
                move = MOVE_ORDER.replace("PAID", step).replace("PayOrder", "Move")
                status, body = await client.post(move, {"id": order_id}, "admin")
                if error := describe_error(body, status):
                    raise SystemExit(f"error: completing an order failed: {error}")
    needed = args.warmup + args.requests * len(args.concurrency)
    for _ in range(needed):
        status, body = await client.post(PLACE_ORDER, {"items": ORDER_LINES}, "customer")
        if error := describe_error(body, status):
            raise SystemExit(f"error: placing an order failed: {error}")
        PENDING_ORDERS.append(body["data"]["placeOrder"]["id"])


async def warm_up(client: PageClient, query: BenchQuery, count: int) -> None:
    for i in range(count):
        await client.send(query, i)


async def benchmark(args: argparse.Namespace, graphql_url: str, password: str) -> list[Row]:
    async with open_session(max(args.concurrency), args.request_timeout) as session:
        client = PageClient(
            GraphQLClient(session, graphql_url, args.request_timeout), args.products
        )
        await client.log_in("customer", customer_email(1), password)
        await client.log_in("admin", ADMIN_EMAIL, password)
        await client.log_in("customer2", customer_email(2), password)
        await prepare_writes(client, args)
        rows: list[Row] = []
        for query in (*QUERIES, *WRITES):
            await warm_up(client, query, args.warmup)
            for level in args.concurrency:
                row = await run_level(client, query, level, args.requests, args.max_seconds)
                print_row(row)
                rows.append(row)
        return rows


# --------------------------------------------------------------------------- output

TABLE = Table(
    (
        ("query", 18, "<"),
        ("conc", 4, ">"),
        ("reqs", 5, ">"),
        ("calls/req", 9, ">"),
        ("by operation (per request)", 30, "<"),
        ("RCU/req", 8, ">"),
        ("WCU/req", 8, ">"),
        ("requested", 9, ">"),
        ("p50 ms", 8, ">"),
        ("p99 ms", 8, ">"),
        ("max ms", 8, ">"),
        ("req/s", 8, ">"),
        ("errors", 6, ">"),
    )
)


def print_row(row: Row) -> None:
    operations = ", ".join(f"{op} {number(n)}" for op, n in row.calls_by_operation.items())
    TABLE.print_row(
        [
            row.query,
            str(row.concurrency),
            str(row.requests),
            number(row.calls_per_request),
            operations or "-",
            number(row.read_units_per_request),
            number(row.write_units_per_request),
            number(row.requested_cost),
            f"{row.p50_ms:.1f}",
            f"{row.p99_ms:.1f}",
            f"{row.max_ms:.1f}",
            f"{row.requests_per_second:.1f}",
            str(row.errors),
        ]
    )


def print_notes(rows: list[Row], args: argparse.Namespace) -> None:
    """The first error of each query, once, and rows cut short by the time budget."""
    seen: set[str] = set()
    for row in rows:
        if row.first_error and row.query not in seen:
            seen.add(row.query)
            print(f"first error of {row.query!r}: {row.first_error}")
    if any(row.requests < args.requests for row in rows):
        print(f"note: rows with fewer than {args.requests} requests hit --max-seconds")


def header(args: argparse.Namespace, endpoint: str, table: str) -> dict[str, Any]:
    return {
        "engine": args.engine,
        "endpoint": endpoint,
        "table": table,
        "customers": args.customers,
        "products": args.products,
        "orders_per_customer": args.orders_per_customer,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        **machine(),
    }


def print_header(info: dict[str, Any]) -> None:
    print("shopgraph benchmark")
    print(f"  engine   {info['engine']} at {info['endpoint']} (table {info['table']})")
    print(
        f"  dataset  {info['customers']} customers, {info['products']} products, "
        f"{info['orders_per_customer']} orders per customer"
    )
    print(
        f"  load     {info['requests']} requests per query and level, concurrency "
        f"{','.join(map(str, info['concurrency']))}, warm-up {info['warmup']}"
    )
    print_machine(info)


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    use_local_credentials(args.engine)
    table = new_table_name()
    env = endpoint_env(table)
    settings = Settings.from_env(env)
    options = SeedOptions.for_settings(
        settings,
        customers=args.customers,
        products=args.products,
        orders_per_customer=args.orders_per_customer,
    )
    with ExitStack() as stack:
        engine = stack.enter_context(open_engine(args.engine, args.endpoint_url))
        info = header(args, engine.endpoint, table)
        print_header(info)
        stack.callback(drop_table, settings, engine.endpoint)
        info["load"] = load_dataset(settings, engine.endpoint, options).as_dict()
        server = stack.enter_context(
            served(engine.endpoint, env, args.startup_timeout, log_name="bench")
        )
        print()
        TABLE.print_header()
        rows = asyncio.run(benchmark(args, server.graphql_url, settings.demo_password))
        print()
        print_notes(rows, args)
    info["rows"] = [asdict(row) for row in rows]
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    summary = run(args)
    if args.json:
        print_json(summary)
    return 1 if any(row["errors"] for row in summary["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
