"""The DynamoDB client's share of a request: aioboto3 against a lean signed client.

shopgraph talks to DynamoDB through aioboto3 (aiobotocore). This bench measures
what that costs in CPU against the least a client must do per call: botocore's
SigV4 signing, one aiohttp POST and orjson, with no event hooks, retry handler,
endpoint rules or response shapes (`LeanClient` below, which exists only here).
It starts an engine (DynamoDB Local by default) and seeds a fresh table; then,
in this one process, on uvloop as `serve` runs:

- per call: CPU (process time) per Query of a category page (21 items, as the
  page asks), per BatchGetItem of 20 products and per GetItem, with each client;
- per page: the product and category pages executed through shopgraph's schema
  with the server's request context, once over each client (the same `Dynamo`
  wrapper, only the client under it swapped), without HTTP; and once over
  answers replayed from memory (no client at all), with `{ __typename }` beside
  them;
- served: `shopgraph serve` on the same table, `{ __typename }` and each page
  under wrk (one connection), with serve's CPU per request from /proc.

From these it prints where a served page's CPU goes: what every request pays
(`{ __typename }` served), the page's own execution (replayed, less
`{ __typename }` in process), and its DynamoDB calls through each client (less
the replayed page). Every answer is checked: the clients' must be the same, and
wrk's must be 200 with the page's field and no errors. The exit status is 1
when they are not.

    .venv/bin/python -m bench.client
    .venv/bin/python -m bench.client --calls 500 --json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench import wrk
from bench.cli import bench_parser, exit_with, positive_float, positive_int, run_bench
from bench.proc import cpu_seconds
from bench.queries import TRIVIAL, product_id
from bench.report import Table, fixed, machine, print_json, print_machine, ratio
from bench.stack import Stack, add_stack_arguments, check_stack_arguments, seeded, serve
from shopgraph.data import entities
from shopgraph.data.codec import key_attributes
from shopgraph.data.cost import CostRecorder
from shopgraph.data.dynamo import Dynamo, open_client
from shopgraph.data.paging import CursorCodec
from shopgraph.data.seed import CATEGORIES
from shopgraph.data.table import GSI1
from shopgraph.resolvers.context import RequestContext
from shopgraph.schema.build import build_schema
from shopgraph.settings import Settings

CLIENTS = ("aioboto3", "lean")
PAGE_PRODUCTS = 20


class LeanClient:
    """DynamoDB's JSON protocol with nothing else: sign, POST, parse.

    Answers `client.query(**params)` and the like as aiobotocore's client does
    for the item operations, so that `Dynamo` can run over it unchanged. No
    retries and no error mapping: a bench instrument, not a client to ship.
    """

    def __init__(
        self, session: aiohttp.ClientSession, endpoint: str, credentials: Credentials, region: str
    ) -> None:
        self._session = session
        self._url = endpoint.rstrip("/") + "/"
        self._signer = SigV4Auth(credentials, "dynamodb", region)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        # query -> Query, batch_get_item -> BatchGetItem
        operation = "".join(part.capitalize() for part in name.split("_"))

        async def call(**params: Any) -> dict[str, Any]:
            return await self._call(operation, params)

        return call

    async def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps(params)
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            },
        )
        self._signer.add_auth(request)
        async with self._session.post(
            self._url, data=body, headers=dict(request.headers.items())
        ) as response:
            payload = await response.read()
            status = response.status
        if status != 200:
            raise RuntimeError(f"{operation}: HTTP {status}: {payload[:200]!r}")
        parsed: dict[str, Any] = orjson.loads(payload)
        parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "RetryAttempts": 0}
        return parsed


class ReplayingClient:
    """Answers each call from memory: the first time from the real client, then
    the same answer parsed again, so a page runs without any client cost."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._answers: dict[tuple[str, bytes], bytes] = {}

    def __getattr__(self, name: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def call(**params: Any) -> dict[str, Any]:
            key = (name, orjson.dumps(params, option=orjson.OPT_SORT_KEYS))
            if key not in self._answers:
                self._answers[key] = orjson.dumps(await getattr(self._client, name)(**params))
            answer: dict[str, Any] = orjson.loads(self._answers[key])
            return answer

        return call


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, "bench.client")
    add_stack_arguments(parser, customers=20, products=200, orders_per_customer=5)
    parser.add_argument(
        "--calls",
        type=positive_int,
        default=2000,
        help="timed calls, and pages, per client and kind (default %(default)s)",
    )
    parser.add_argument(
        "--warmup", type=positive_int, default=200, help="untimed ones before (default %(default)s)"
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=10.0,
        help="s of wrk per served request kind, after 2 s untimed (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_stack_arguments(parser, args)
    return args


async def cpu_per_call(call: Callable[[], Awaitable[Any]], count: int, warmup: int) -> float:
    """µs of this process's CPU per call, run one after another."""
    for _ in range(warmup):
        await call()
    started = time.process_time()
    for _ in range(count):
        await call()
    return (time.process_time() - started) / count * 1e6


def call_kinds(table: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The calls the pages make, by name: operation and parameters."""
    keys = [entities.PRODUCT.key(id=product_id(n)) for n in range(1, PAGE_PRODUCTS + 1)]
    return {
        "Query, 21 products": (
            "query",
            {
                "TableName": table,
                "IndexName": GSI1.name,
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": {
                    ":pk": {"S": entities.PRODUCT.partition(GSI1, category=CATEGORIES[0])}
                },
                "Limit": PAGE_PRODUCTS + 1,
            },
        ),
        f"BatchGetItem, {PAGE_PRODUCTS} products": (
            "batch_get_item",
            {"RequestItems": {table: {"Keys": [key_attributes(key) for key in keys]}}},
        ),
        "GetItem, 1 product": (
            "get_item",
            {"TableName": table, "Key": key_attributes(keys[0])},
        ),
    }


def comparable(response: dict[str, Any]) -> Any:
    """What both clients must agree on: the items (BatchGetItem's in key order)."""
    if "Responses" in response:
        items = [item for table_items in response["Responses"].values() for item in table_items]
        return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))
    return response.get("Items", response.get("Item"))


# The comparison's pages (bench.compare, from the peer's queries), and what
# each field the pages are checked for.
EXPECT = {"product page": "viewCount", "category page": "nodes"}
PAGES = {
    "product page": (
        "query ProductPage($id: ID!) { product(id: $id) { name price viewCount } }",
        {"id": product_id(1)},
    ),
    "category page": (
        "query CategoryPage($category: String!) {"
        " productsByCategory(category: $category, first: 20) { nodes { id name price } } }",
        {"category": CATEGORIES[0]},
    ),
}


@dataclass(frozen=True)
class PageRunner:
    """Executes pages through the schema as the server does, over a given client."""

    schema: Any
    settings: Settings
    cursors: CursorCodec

    async def execute(
        self, client: Any, document: str, variables: dict[str, Any]
    ) -> tuple[Any, CostRecorder]:
        cost = CostRecorder(self.settings.read_unit_price, self.settings.write_unit_price)
        context = RequestContext(
            settings=self.settings,
            db=Dynamo(client, self.settings.table_name, cost),
            cursors=self.cursors,
            request_id="bench",
        )
        result = await self.schema.execute(
            document, variable_values=variables, context_value=context
        )
        if result.errors:
            raise RuntimeError(result.errors[0].message)
        return result.data, cost


async def measure(args: argparse.Namespace, settings: Settings, endpoint: str) -> dict[str, Any]:
    runner = PageRunner(build_schema(settings), settings, CursorCodec(settings.secret))
    async with AsyncExitStack() as stack:
        boto = await stack.enter_async_context(open_client(settings, endpoint))
        frozen = await boto._request_signer._credentials.get_frozen_credentials()
        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=settings.max_pool_connections)
            )
        )
        lean = LeanClient(
            session,
            endpoint,
            Credentials(frozen.access_key, frozen.secret_key, frozen.token),
            settings.region,
        )
        clients = {"aioboto3": boto, "lean": lean}

        calls: dict[str, dict[str, float]] = {}
        mismatches: list[str] = []
        for kind, (method, params) in call_kinds(settings.table_name).items():
            answers = [comparable(await getattr(c, method)(**params)) for c in clients.values()]
            if answers[0] != answers[1] or not answers[0]:
                mismatches.append(kind)
            calls[kind] = {}
            for name, client in clients.items():
                call = partial(getattr(client, method), **params)
                calls[kind][name] = await cpu_per_call(call, args.calls, args.warmup)
                print(f"  {kind:28s} {name:9s} {calls[kind][name]:7.0f} µs CPU", flush=True)

        replayed = ReplayingClient(boto)
        trivial = partial(runner.execute, replayed, TRIVIAL, {})
        in_process_trivial = await cpu_per_call(trivial, args.calls, args.warmup)
        print(f"  {TRIVIAL:28s} {'-':9s} {in_process_trivial:7.0f} µs CPU", flush=True)
        pages: dict[str, dict[str, float]] = {}
        page_calls: dict[str, dict[str, int]] = {}
        for page, (document, variables) in PAGES.items():
            pages[page] = {}
            answers = []
            for name, client in {**clients, "replayed": replayed}.items():
                execute = partial(runner.execute, client, document, variables)
                data, cost = await execute()
                answers.append(data)
                page_calls[page] = cost.as_dict()["calls"]
                if not page_calls[page]:
                    mismatches.append(f"{page} over {name} made no DynamoDB call")
                pages[page][name] = await cpu_per_call(execute, args.calls, args.warmup)
                print(f"  {page:28s} {name:9s} {pages[page][name]:7.0f} µs CPU", flush=True)
            # viewCount may move between the clients' answers: compare the rest.
            if any(_without_counts(answers[0]) != _without_counts(a) for a in answers[1:]):
                mismatches.append(page)
    return {
        "calls": calls,
        "pages": pages,
        "page_calls": page_calls,
        "in_process_trivial": in_process_trivial,
        "mismatches": mismatches,
    }


def served_cpu(args: argparse.Namespace, stack: ExitStack, seeded_stack: Stack) -> dict[str, float]:
    """serve's CPU µs per request under wrk at one connection, by request kind."""
    server = serve(stack, args, seeded_stack, "shopgraph-client-serve.log")
    kinds = {"trivial": (TRIVIAL, {}, "__typename")} | {
        page: (document, variables, EXPECT[page]) for page, (document, variables) in PAGES.items()
    }
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="shopgraph-client-") as folder:
        for kind, (document, variables, expect) in kinds.items():
            request = wrk.Request(kind.replace(" ", "-"), document, variables, expect)
            script = wrk.write_script(request, Path(folder))
            wrk.run(script, server.graphql_url, 1, 2)
            before = cpu_seconds([server.pid])
            result = wrk.run(script, server.graphql_url, 1, args.duration)
            spent = cpu_seconds([server.pid]) - before
            if problem := result.problem() or ("no answer" if not result.requests else None):
                exit_with(1, f"error: {kind} served: {problem}")
            figures[kind] = spent * 1e6 / result.requests
            print(f"  served {kind:21s} {figures[kind]:7.0f} µs CPU of serve", flush=True)
    return figures


def _without_counts(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_counts(v) for k, v in data.items() if k != "viewCount"}
    if isinstance(data, list):
        return [_without_counts(v) for v in data]
    return data


def report(summary: dict[str, Any]) -> None:
    table = Table(
        [
            ("what", 36, "<"),
            ("aioboto3 µs", 12, ">"),
            ("lean µs", 9, ">"),
            ("saved µs", 9, ">"),
            ("lean / aioboto3", 16, ">"),
        ]
    )
    print("\nCPU of this process per call or page (process time; the engine's is not in it)")
    table.print_header()
    for group in ("calls", "pages"):
        for kind, figures in summary[group].items():
            boto, lean = figures["aioboto3"], figures["lean"]
            if group == "pages":
                made = ", ".join(f"{op} {n}" for op, n in summary["page_calls"][kind].items())
                kind = f"{kind} ({made})"
            table.print_row(
                [
                    kind,
                    fixed(boto, 0),
                    fixed(lean, 0),
                    fixed(boto - lean, 0),
                    fixed(ratio(lean, boto), 2),
                ]
            )
    if summary["mismatches"]:
        print(f"\nthe clients' answers differ: {', '.join(summary['mismatches'])}")
    served = summary.get("served")
    if not served:
        print("\nwrk is not installed: no served figures (Debian's package `wrk`)")
        return
    print("\nWhere a served page's CPU goes (µs per request; serve at one connection)")
    budget = Table([("", 52, "<")] + [(page, 14, ">") for page in PAGES])
    budget.print_header()
    every_request = served["trivial"]
    rows: list[tuple[str, list[float]]] = [
        ("what every request pays: { __typename } served", [every_request for _ in PAGES]),
    ]
    execution, calls = [], []
    for figures in summary["pages"].values():
        execution.append(figures["replayed"] - summary["in_process_trivial"])
        calls.append(figures["aioboto3"] - figures["replayed"])
    rows.append(("the page's execution, answers replayed", execution))
    rows.append(("its DynamoDB calls through aioboto3", calls))
    parts = [every_request + e + c for e, c in zip(execution, calls, strict=True)]
    rows.append(("sum", parts))
    rows.append(("the page served, measured", [served[page] for page in PAGES]))
    rows.append(
        (
            "its calls through the lean client instead",
            [f["lean"] - f["replayed"] for f in summary["pages"].values()],
        )
    )
    for label, values in rows:
        budget.print_row([label, *(fixed(v, 0) for v in values)])


def run(args: argparse.Namespace) -> dict[str, Any]:
    print("shopgraph DynamoDB client cost: aioboto3 against a lean signed client")
    info = machine()
    print_machine(info)
    with ExitStack() as stack:
        seeded_stack: Stack = seeded(stack, args, "shopgraph-client")
        summary = uvloop.run(measure(args, seeded_stack.settings, seeded_stack.engine.endpoint))
        if wrk.available() is not None:
            summary["served"] = served_cpu(args, stack, seeded_stack)
    summary["machine"] = info
    summary["dataset"] = seeded_stack.loaded.as_dict()
    report(summary)
    return summary


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    return 1 if summary["mismatches"] else 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse_args, run, finish, stopped="the engine")


if __name__ == "__main__":
    sys.exit(main())
