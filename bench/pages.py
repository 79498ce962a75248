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
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from bench.serving import describe_error, free_port, log_tail, stop_server
from shopgraph.data.dynamo import Dynamo, open_client
from shopgraph.data.seed import ADMIN_EMAIL, SeedOptions, customer_email, seed
from shopgraph.data.table import ensure_table
from shopgraph.settings import EmbeddedEngine, Settings

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("dynamodb-local", "moto", "endpoint")
BENCH_SECRET = "bench"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


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
    BenchQuery(
        "profile page",
        "query ProfilePage { viewer { name email points orders(first: 10) {"
        " nodes { number total status createdAt"
        " items { quantity unitPrice product { name price } } } } } }",
        "customer",
    ),
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

LOG_IN = (
    "mutation LogIn($email: String!, $password: String!) {"
    " logIn(email: $email, password: $password) { token } }"
)
WHO_AM_I = "query WhoAmI { viewer { id role } }"


# --------------------------------------------------------------------------- options


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def concurrency_list(text: str) -> list[int]:
    try:
        levels = [positive_int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,16, got {text!r}") from exc
    if not levels:
        raise argparse.ArgumentTypeError("give at least one concurrency level")
    return levels


def default_engine() -> str:
    from shopgraph.engine import dynamodb_local

    return "dynamodb-local" if dynamodb_local.availability().ok else "moto"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine", choices=ENGINES, default=None, help="default: " + default_engine()
    )
    parser.add_argument(
        "--endpoint-url", default=None, help="DynamoDB endpoint for --engine endpoint"
    )
    parser.add_argument("--customers", type=positive_int, default=200)
    parser.add_argument("--products", type=positive_int, default=1000)
    parser.add_argument("--orders-per-customer", type=non_negative_int, default=20)
    parser.add_argument("--requests", type=positive_int, default=200, help="per query and level")
    parser.add_argument("--concurrency", type=concurrency_list, default=[1, 16], help="e.g. 1,16")
    parser.add_argument("--warmup", type=non_negative_int, default=10, help="requests per query")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time budget per row")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="server start, s")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    if args.engine is None:
        args.engine = "endpoint" if args.endpoint_url else default_engine()
    if args.engine == "endpoint" and not args.endpoint_url:
        parser.error("--engine endpoint needs --endpoint-url")
    if args.engine != "endpoint" and args.endpoint_url:
        parser.error("--endpoint-url goes with --engine endpoint")
    return args


# --------------------------------------------------------------------------- engines


@contextmanager
def launched_engine(choice: EmbeddedEngine) -> Iterator[str]:
    """An engine started through the same launcher as `shopgraph serve`."""
    from shopgraph.engine import start_embedded

    with start_embedded(choice) as engine:
        print(f"engine: {engine.details}")
        yield engine.endpoint_url


@contextmanager
def endpoint_engine(url: str) -> Iterator[str]:
    yield url


def open_engine(args: argparse.Namespace) -> Any:
    if args.engine == "endpoint":
        return endpoint_engine(args.endpoint_url)
    return launched_engine(args.engine)


# --------------------------------------------------------------------------- table and data


def bench_env(table: str) -> dict[str, str]:
    env = dict(os.environ, SHOPGRAPH_TABLE=table, SHOPGRAPH_SECRET=BENCH_SECRET)
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def load_dataset(settings: Settings, endpoint: str, options: SeedOptions) -> int:
    async with open_client(settings, endpoint) as client:
        await ensure_table(client, settings.table_name)
        return await seed(Dynamo(client, settings.table_name), options, progress=False)


async def delete_table(settings: Settings, endpoint: str) -> None:
    async with open_client(settings, endpoint) as client:
        await client.delete_table(TableName=settings.table_name)


def drop_table(settings: Settings, endpoint: str) -> None:
    try:
        # One attempt: when the engine is gone already, retrying only delays the exit.
        asyncio.run(delete_table(settings.with_(dynamodb_max_attempts=1), endpoint))
    except Exception as exc:  # best effort: the engine may be gone already
        print(f"note: could not delete table {settings.table_name}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- server


def start_server(
    endpoint: str, port: int, env: dict[str, str], log: TextIO
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "shopgraph", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--endpoint-url", endpoint]
    # Its own session: a Ctrl-C reaches us, and we stop it by its PID.
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: the server exited ({process.returncode}):\n{log_tail(log)}")
        try:
            with opener.open(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"error: /readyz did not answer 200 within {timeout:.0f}s:\n{log_tail(log)}")


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    latency_ms: float
    calls: dict[str, int] | None = None
    read_units: float | None = None
    write_units: float | None = None
    error: str | None = None


@dataclass
class Row:
    query: str
    concurrency: int
    requests: int
    calls_per_request: float | None
    calls_by_operation: dict[str, float]
    read_units_per_request: float | None
    write_units_per_request: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests_per_second: float
    errors: int
    first_error: str | None = field(default=None, repr=False)


def sample_from(body: Any, status: int, latency_ms: float) -> Sample:
    extensions = body.get("extensions") if isinstance(body, dict) else None
    cost = (extensions or {}).get("cost") or {}
    calls = cost.get("calls")
    return Sample(
        latency_ms=latency_ms,
        calls=dict(calls) if isinstance(calls, dict) else None,
        read_units=cost.get("readCapacityUnits"),
        write_units=cost.get("writeCapacityUnits"),
        error=describe_error(body, status),
    )


class GraphQLClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, products: int) -> None:
        self.session = session
        self.url = url
        self.products = products
        self.tokens: dict[str, str] = {}

    async def post(self, document: str, variables: dict[str, Any], role: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role in self.tokens else {}
        payload = {"query": document, "variables": variables}
        async with self.session.post(self.url, json=payload, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def send(self, query: BenchQuery, i: int) -> Sample:
        started = time.perf_counter()
        try:
            status, body = await self.post(
                query.document, query.variables(i, self.products), query.role_of(i)
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            latency = (time.perf_counter() - started) * 1000
            return Sample(latency, error=f"{type(exc).__name__}: {exc}")
        return sample_from(body, status, (time.perf_counter() - started) * 1000)

    async def log_in(self, role: str, email: str, password: str) -> None:
        status, body = await self.post(LOG_IN, {"email": email, "password": password}, "anonymous")
        if error := describe_error(body, status):
            raise SystemExit(f"error: logIn as {email} failed: {error}")
        self.tokens[role] = body["data"]["logIn"]["token"]
        status, body = await self.post(WHO_AM_I, {}, role)
        viewer = (body.get("data") or {}).get("viewer") if isinstance(body, dict) else None
        if not viewer:
            raise SystemExit(f"error: the token of {email} is not accepted: {body}")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * fraction // 1))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


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
    latencies = sorted(s.latency_ms for s in samples) or [0.0]
    calls, by_operation = mean_calls(samples)
    units = [s.read_units for s in samples if s.read_units is not None]
    written = [s.write_units for s in samples if s.write_units is not None]
    failures = [s.error for s in samples if s.error]
    return Row(
        query=query,
        concurrency=concurrency,
        requests=len(samples),
        calls_per_request=calls,
        calls_by_operation=by_operation,
        read_units_per_request=statistics.fmean(units) if units else None,
        write_units_per_request=statistics.fmean(written) if written else None,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1],
        requests_per_second=len(samples) / wall if wall > 0 else 0.0,
        errors=len(failures),
        first_error=failures[0] if failures else None,
    )


async def run_level(
    client: GraphQLClient, query: BenchQuery, concurrency: int, requests: int, budget: float
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

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return summarize(query.name, concurrency, samples, time.perf_counter() - started)


async def prepare_writes(client: GraphQLClient, args: argparse.Namespace) -> None:
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


async def warm_up(client: GraphQLClient, query: BenchQuery, count: int) -> None:
    for i in range(count):
        await client.send(query, i)


async def benchmark(args: argparse.Namespace, base_url: str, password: str) -> list[Row]:
    connector = aiohttp.TCPConnector(limit=max(args.concurrency), limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        client = GraphQLClient(session, f"{base_url}/graphql", args.products)
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

COLUMNS = (
    ("query", 18, "<"),
    ("conc", 4, ">"),
    ("reqs", 5, ">"),
    ("calls/req", 9, ">"),
    ("by operation (per request)", 30, "<"),
    ("RCU/req", 8, ">"),
    ("WCU/req", 8, ">"),
    ("p50 ms", 8, ">"),
    ("p99 ms", 8, ">"),
    ("max ms", 8, ">"),
    ("req/s", 8, ">"),
    ("errors", 6, ">"),
)


def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value - round(value)) < 0.005 else f"{value:.{digits}f}"


def format_line(cells: list[str]) -> str:
    padded = (
        f"{cell:{align}{width}}" for cell, (_, width, align) in zip(cells, COLUMNS, strict=True)
    )
    return "  ".join(padded).rstrip()


def print_table_header() -> None:
    line = format_line([name for name, _, _ in COLUMNS])
    print(line)
    print("-" * len(line))


def print_row(row: Row) -> None:
    operations = ", ".join(f"{op} {number(n)}" for op, n in row.calls_by_operation.items())
    cells = [
        row.query,
        str(row.concurrency),
        str(row.requests),
        number(row.calls_per_request),
        operations or "-",
        number(row.read_units_per_request),
        number(row.write_units_per_request),
        f"{row.p50_ms:.1f}",
        f"{row.p99_ms:.1f}",
        f"{row.max_ms:.1f}",
        f"{row.requests_per_second:.1f}",
        str(row.errors),
    ]
    print(format_line(cells), flush=True)


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
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
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
    print(f"  python   {info['python']} on {info['platform']}, {info['cpus']} CPUs")
    print(f"  date     {info['date']}", flush=True)


# --------------------------------------------------------------------------- main


def use_local_credentials(engine: str) -> None:
    """Local engines take any credentials; DynamoDB Local rejects '-' and '_' in them."""
    if engine != "endpoint":
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)


def load(args: argparse.Namespace, settings: Settings, endpoint: str) -> dict[str, Any]:
    options = SeedOptions.for_settings(
        settings,
        customers=args.customers,
        products=args.products,
        orders_per_customer=args.orders_per_customer,
    )
    print("loading the demo dataset ...", flush=True)
    started = time.perf_counter()
    items = asyncio.run(load_dataset(settings, endpoint, options))
    seconds = time.perf_counter() - started
    rate = items / seconds if seconds > 0 else 0.0
    print(f"loaded {items} items in {seconds:.1f} s ({rate:.0f} items/s)\n", flush=True)
    return {"items": items, "seconds": round(seconds, 3), "items_per_second": round(rate, 1)}


def serve(stack: ExitStack, endpoint: str, env: dict[str, str], timeout: float) -> str:
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"shopgraph-bench-server-{port}.log"
    log = stack.enter_context(log_path.open("w"))
    process = start_server(endpoint, port, env, log)
    stack.callback(stop_server, process)
    base_url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    wait_ready(base_url, process, timeout, log_path)
    elapsed = time.perf_counter() - started
    print(f"server PID {process.pid} ready at {base_url} in {elapsed:.1f} s (log {log_path})")
    return base_url


def run(args: argparse.Namespace) -> dict[str, Any]:
    use_local_credentials(args.engine)
    table = f"shopgraph-bench-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    env = bench_env(table)
    settings = Settings.from_env(env)
    with ExitStack() as stack:
        endpoint = stack.enter_context(open_engine(args))
        info = header(args, endpoint, table)
        print_header(info)
        stack.callback(drop_table, settings, endpoint)
        info["load"] = load(args, settings, endpoint)
        base_url = serve(stack, endpoint, env, args.startup_timeout)
        print()
        print_table_header()
        rows = asyncio.run(benchmark(args, base_url, settings.demo_password))
        print()
        print_notes(rows, args)
    info["rows"] = [rounded(asdict(row)) for row in rows]
    return info


def rounded(value: Any) -> Any:
    """Floats to 3 decimals, also inside dicts, for the JSON summary."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    return value


def on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    summary = run(args)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 1 if any(row["errors"] for row in summary["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
