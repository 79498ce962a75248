"""shopgraph subscriber bench: how fast does an order status change reach 1,000 live subscribers?

Starts an engine (DynamoDB Local by default) with a fresh table, a redis-server,
`--workers` `shopgraph stream-worker` processes and `--servers` `shopgraph serve`
processes reading the Redis stream, all on 127.0.0.1. Signs up `--customers`
customers and an admin, creates a product without stock, and opens `--subscribers`
`orderStatusChanged` subscriptions (graphql-transport-ws), dealt evenly over the
servers: `--admin-subscribers` as the admin (every change) and the rest as the
customers in turn (each sees its customer's orders). Then `--rate` status changes
a second, open loop, for `--warmup` + `--seconds`: placeOrder by the customers,
updateOrderStatus PAID, SHIPPED, COMPLETED by the admin, spread over the servers.
Prints the latency from the write (the event's changedAt) to its arrival here,
p50/p99/max against a p99 target of 1 s, the achieved change rate, the CPU of
each part over the measured window (per delivery, per change) and the servers'
RSS. Every subscriber must get exactly the changes it may see, each once and in
order: anything else is a wrong answer and the exit status is 1. Everything it
starts it stops by PID, on failure and on Ctrl-C / SIGTERM too.

With the defaults: 1,000 subscribers on 4 servers, 250 each. 10 subscribe as
the admin, 990 as the customers: 10 each for customers 1-90, 9 each for
91-100. Consecutive subscribers go to consecutive servers, so each customer's
subscribers, and the admin's, span all four (the admin's 3, 3, 2, 2: servers 3
and 4 deliver a fifth more). A change is delivered about 20 times (to its
customer's 9-10 subscribers and the admin's 10): 50 changes/s are about 1,000
deliveries/s. Order k is placed by customer k mod 100, then moved a step every
`--step-gap` (about 0.5 s), each step through the next server; the first steps
of the warm-up have no order to move yet. Before anyone subscribes, a
`--baseline-seconds` run of the same changes measures what the writes and the
Redis feed cost the serve processes alone, to tell the deliveries' CPU apart.

    .venv/bin/python -m bench.subscribers
    .venv/bin/python -m bench.subscribers --seconds 10 --json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench import proc
from bench.cli import (
    bench_parser,
    env_assignment,
    exit_with,
    non_negative_float,
    positive_float,
    positive_int,
    raise_open_files_limit,
    run_bench,
)
from bench.data import drop_table, new_table_name
from bench.engines import (
    Engine,
    add_engine_arguments,
    check_engine_arguments,
    open_engine,
    use_local_credentials,
)
from bench.load import LOAD_ERRORS, GraphQLClient, field_of, open_session, run_async
from bench.loops import Run, open_loop
from bench.report import Table, fixed, machine, percentile, print_json, print_machine, verdict
from bench.writes import CREATE_PRODUCT, MOVE_ORDER, PLACE_ORDER
from shopgraph.data.dynamo import open_client
from shopgraph.data.table import ensure_table
from shopgraph.engine import EngineStartError
from shopgraph.settings import Settings
from tests import redis_server
from tests.scaled import WORKER_LINE, LiveSubscriber, Process, Server, shopgraph_env

TARGET_P99_MS = 1000.0
LIFECYCLE = ("PENDING", "PAID", "SHIPPED", "COMPLETED")
ADMIN_EMAIL = "bench-admin@example.com"
PASSWORD = "bench-subscribers"
SECRET = "bench-subscribers"  # one for all servers: a token or cursor of one is good on all
PRODUCT_ID = "bench-subscribers"
SIGN_UP = (
    "mutation SignUp($email: String!, $password: String!) { signUp(input: "
    '{email: $email, name: "Bench", password: $password}) { token } }'
)
SIGN_UPS_AT_ONCE = 8  # scrypt per signUp: a few at a time keeps the servers answering
CONNECTS_AT_ONCE = 50  # subscribers connecting at once: a handshake storm is not measured
LAG_TICK_S = 0.05
BASELINE_DRAIN_S = 2.0  # a stream worker publishes in rounds about 0.5 s apart

# What became of a write.
WRITTEN = "written"
REFUSED = "refused"  # OVERLOADED: the server did not run it
UNSURE = "unsure"  # no answer, or an error after which it may have been written
SKIPPED = "skipped"  # an earlier step of its order was not surely written
IDLE = "idle"  # a slot of the warm-up with no order to move yet


# --------------------------------------------------------------------------- options


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, "bench.subscribers")
    add_engine_arguments(parser, default="dynamodb-local")
    topology = parser.add_argument_group("processes")
    topology.add_argument(
        "--servers", type=positive_int, default=4, help="serve processes (default %(default)s)"
    )
    topology.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="stream-worker processes (default %(default)s)",
    )
    topology.add_argument(
        "--redis-memory-only",
        action="store_true",
        help="Redis without its append-only file (by default every write is fsynced, as a "
        "deployment that must not lose change events runs it)",
    )
    topology.add_argument(
        "--server-env",
        type=env_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the serve and stream-worker processes; repeatable",
    )
    topology.add_argument(
        "--startup-timeout",
        type=positive_float,
        default=120.0,
        help="s a process may take to be ready (default %(default)g)",
    )
    load = parser.add_argument_group("subscribers and changes")
    load.add_argument(
        "--customers", type=positive_int, default=100, help="signed up (default %(default)s)"
    )
    load.add_argument(
        "--subscribers",
        type=positive_int,
        default=1000,
        help="in all, dealt evenly over the servers (default %(default)s)",
    )
    load.add_argument(
        "--admin-subscribers",
        type=int,
        default=10,
        help="of them as the admin, who sees every change (default %(default)s)",
    )
    load.add_argument(
        "--rate",
        type=positive_float,
        default=50.0,
        help="status changes a second (default %(default)g)",
    )
    load.add_argument(
        "--seconds", type=positive_float, default=60.0, help="measured (default %(default)g)"
    )
    load.add_argument(
        "--warmup",
        type=non_negative_float,
        default=5.0,
        help="s of changes before the measured window (checked, not measured; default %(default)g)",
    )
    load.add_argument(
        "--baseline-seconds",
        type=non_negative_float,
        default=10.0,
        help="s of the same changes before anyone subscribes, for the serve CPU they cost "
        "alone; 0: none (default %(default)g)",
    )
    load.add_argument(
        "--step-gap",
        type=positive_float,
        default=0.5,
        help="about this many s between an order's changes (default %(default)g)",
    )
    load.add_argument(
        "--settle",
        type=non_negative_float,
        default=3.0,
        help="s after the last subscribe for the servers to take it in (the protocol does "
        "not acknowledge it; default %(default)g)",
    )
    load.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=60.0,
        help="s after the last change for every delivery to arrive (default %(default)g)",
    )
    load.add_argument(
        "--max-outstanding",
        type=positive_int,
        default=256,
        help="writes out at once; one due beyond that is not sent (default %(default)s)",
    )
    load.add_argument(
        "--request-timeout",
        type=positive_float,
        default=30.0,
        help="s; past it a write counts as unanswered (default %(default)g)",
    )
    load.add_argument(
        "--report-every",
        type=positive_float,
        default=10.0,
        help="s between progress lines (default %(default)g)",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_engine_arguments(parser, args)
    if not 0 <= args.admin_subscribers <= args.subscribers:
        parser.error("--admin-subscribers must be between 0 and --subscribers")
    return args


# --------------------------------------------------------------------------- who follows what


@dataclass
class Follower:
    subscriber: LiveSubscriber
    customer: int | None  # None: the admin, who sees every order
    server: int  # where it subscribed


def deal(
    customers: int, subscribers: int, admins: int, servers: int
) -> list[tuple[int | None, int]]:
    """(customer or None for the admin, server) per subscriber: the customers' in
    turn, then the admin's; the whole list round robin over the servers, so one
    customer's subscribers sit on different servers."""
    per, extra = divmod(subscribers - admins, customers)
    whose: list[int | None] = []
    for customer in range(customers):
        whose.extend([customer] * (per + int(customer < extra)))
    whose.extend([None] * admins)
    return [(who, n % servers) for n, who in enumerate(whose)]


# --------------------------------------------------------------------------- the writes


@dataclass
class Placed:
    """An order of the run: who placed it and, per step, whether it was written."""

    customer: int
    steps: list[asyncio.Future[bool]]
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    order: int  # k; -1 for an idle slot
    step: int  # index into LIFECYCLE
    server: int
    outcome: str
    late_ms: float = 0.0  # how long after it was due the write was sent
    code: str | None = None
    error: str | None = None
    wrong: bool = False  # an answer no server should give


class Writer:
    """Slot n of the open loop is step n mod 4 of order n // 4 - step x gap: each
    order is placed, then moved a step every `gap` groups of 4 slots, so the
    rate holds without waiting on answers (a step still waits for the one before)."""

    def __init__(
        self,
        clients: list[GraphQLClient],
        admin: str,  # the admin's session token
        customers: list[str],  # the customers' tokens
        rate: float,
        step_gap: float,
        request_timeout: float,
    ) -> None:
        self.clients = clients
        self.admin = admin
        self.customers = customers
        self.rate = rate
        self.gap = max(1, round(step_gap * rate / len(LIFECYCLE)))
        # Past this, the step before never ran: its answer is in by then otherwise.
        self.wait_limit = request_timeout + 2 * self.gap * len(LIFECYCLE) / rate + 5
        self.began = time.perf_counter()  # the open loop's origin, set when it starts
        self.orders: dict[int, Placed] = {}

    def placed(self, k: int) -> Placed:
        if k not in self.orders:
            loop = asyncio.get_running_loop()
            futures = [loop.create_future() for _ in LIFECYCLE]
            self.orders[k] = Placed(k % len(self.customers), futures)
        return self.orders[k]

    async def send(self, n: int) -> Change:
        step = n % len(LIFECYCLE)
        k = n // len(LIFECYCLE) - step * self.gap
        if k < 0:
            return Change(-1, step, -1, IDLE)
        late_ms = max(0.0, (time.perf_counter() - self.began - n / self.rate) * 1000)
        placed = self.placed(k)
        server = (k + step) % len(self.clients)
        change = Change(k, step, server, SKIPPED, late_ms)
        try:
            if step == 0 or await self.written(placed.steps[step - 1]):
                change = await self.write(placed, k, step, server, late_ms)
        finally:
            if not placed.steps[step].done():
                placed.steps[step].set_result(change.outcome == WRITTEN)
        return change

    async def written(self, step: asyncio.Future[bool]) -> bool:
        """Whether the step before was written; False when it never ran (the open
        loop did not start it, `--max-outstanding` being out)."""
        try:
            return await asyncio.wait_for(asyncio.shield(step), self.wait_limit)
        except TimeoutError:
            return False

    async def write(self, placed: Placed, k: int, step: int, server: int, late_ms: float) -> Change:
        client = self.clients[server]
        status = LIFECYCLE[step]
        if step == 0:
            items = [{"productId": PRODUCT_ID, "quantity": 1}]
            token = self.customers[placed.customer]
            sample, body = await client.send(PLACE_ORDER, {"items": items}, token, "placeOrder")
            answer = field_of(body, "placeOrder")
        else:
            variables = {"id": placed.order_id, "status": status}
            sample, body = await client.send(MOVE_ORDER, variables, self.admin, "updateOrderStatus")
            answer = field_of(body, "updateOrderStatus")
        if sample.error is not None:
            outcome = REFUSED if sample.code == "OVERLOADED" else UNSURE
            wrong = sample.answered and sample.code not in LOAD_ERRORS
            return Change(k, step, server, outcome, late_ms, sample.code, sample.error, wrong)
        assert answer is not None  # send checked it
        if answer.get("status") != status or not answer.get("id"):
            problem = f"{status}: answered {answer}"
            return Change(k, step, server, UNSURE, late_ms, "BAD_ANSWER", problem, True)
        if step == 0:
            placed.order_id = str(answer["id"])
        return Change(k, step, server, WRITTEN, late_ms)


# --------------------------------------------------------------------------- what it saw


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU since boot, from /proc/stat: how loaded the
    whole machine was, whoever's processes used it."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Snapshot:
    wall: float  # time.time()
    serve: list[float]
    workers: list[float]
    redis: float
    engine: float | None
    bench: float
    machine: tuple[int, int]


@dataclass
class Watched:
    """The PIDs whose CPU is measured."""

    serve: list[int]
    workers: list[int]
    redis: int
    engine: int | None

    def snapshot(self) -> Snapshot:
        return Snapshot(
            wall=time.time(),
            serve=[proc.cpu_seconds([pid]) for pid in self.serve],
            workers=[proc.cpu_seconds([pid]) for pid in self.workers],
            redis=proc.cpu_seconds([self.redis]),
            engine=proc.cpu_seconds([self.engine]) if self.engine else None,
            bench=time.process_time(),
            machine=machine_ticks(),
        )


async def watch_window(
    run: Run[Change],
    followers: list[Follower],
    watched: Watched,
    warmup: float,
    seconds: float,
    every: float,
) -> tuple[Snapshot, Snapshot]:
    """CPU at the measured window's start and end, and a progress line every `every` s."""
    start, end = run.began + warmup, run.began + warmup + seconds
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    first = previous = watched.snapshot()
    print(f"measuring for {seconds:g} s", flush=True)
    while (left := end - time.perf_counter()) > 0.01:
        await asyncio.sleep(min(every, left))
        current = watched.snapshot()
        changes = sum(1 for t in run.done if t.result.outcome == WRITTEN and t.started >= start)
        deliveries = sum(len(f.subscriber.events) for f in followers)
        elapsed = current.wall - first.wall
        bench_cpu = (current.bench - previous.bench) / (current.wall - previous.wall)
        print(
            f"  {elapsed:5.0f} s: {changes} changes ({changes / elapsed:.1f}/s), "
            f"{deliveries} deliveries so far, bench CPU {100 * bench_cpu:.0f}%",
            flush=True,
        )
        previous = current
    return first, previous


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a timer of this process's loop fires (its loop busy, or the process
    not scheduled): an arrival time taken here can be that late too."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(LAG_TICK_S)
        lags.append(max(0.0, (time.perf_counter() - before - LAG_TICK_S) * 1000))


# --------------------------------------------------------------------------- the check


@dataclass
class Check:
    expected: int = 0
    received: int = 0
    missing: int = 0
    duplicated: int = 0
    not_its_own: int = 0
    out_of_order: int = 0  # orders whose changes one subscriber got out of order
    unknown_orders: int = 0  # of orders the run does not know (a placeOrder unanswered)
    subscriber_errors: int = 0
    ended: int = 0  # subscriptions the server ended
    reconnects: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def wrong(self) -> int:
        return (
            self.missing
            + self.duplicated
            + self.not_its_own
            + self.out_of_order
            + self.subscriber_errors
            + self.ended
        )


Key = tuple[str, str]  # (order id, status)


@dataclass
class Ledger:
    """What the run wrote, per customer (None: all of it, the admin's view)."""

    written: dict[int | None, set[Key]]
    # Writes that may or may not have happened (no answer): a delivery of one is
    # neither required nor wrong.
    unsure: dict[int | None, set[Key]]
    unknown_allowed: bool  # a placeOrder went unanswered: its order id is unknown
    known_orders: set[str]

    @classmethod
    def of(cls, writer: Writer, changes: list[Change], customers: int) -> Ledger:
        written: dict[int | None, set[Key]] = {c: set() for c in [None, *range(customers)]}
        unsure: dict[int | None, set[Key]] = {c: set() for c in [None, *range(customers)]}
        unknown_allowed = False
        for change in changes:
            if change.order < 0 or change.outcome in (REFUSED, SKIPPED):
                continue
            placed = writer.orders[change.order]
            if placed.order_id is None:
                unknown_allowed = True
                continue
            key = (placed.order_id, LIFECYCLE[change.step])
            into = written if change.outcome == WRITTEN else unsure
            into[placed.customer].add(key)
            into[None].add(key)
        known = {p.order_id for p in writer.orders.values() if p.order_id is not None}
        return cls(written, unsure, unknown_allowed, known)


def check_deliveries(followers: list[Follower], ledger: Ledger) -> Check:
    """Every subscriber got exactly what it may see: each change once, each order's in order."""
    check = Check()
    rank = {status: n for n, status in enumerate(LIFECYCLE)}

    def problem(follower: Follower, text: str) -> None:
        if len(check.problems) < 10:
            where = f"{follower.subscriber.name} (serve {follower.server + 1})"
            check.problems.append(f"{where}: {text}")

    for follower in followers:
        sub = follower.subscriber
        want = ledger.written[follower.customer]
        got = [(e.order_id, e.status) for e in sub.events]
        counts = Counter(got)
        check.expected += len(want)
        check.received += len(got)
        check.reconnects += max(0, sub.connections - 1)
        # A change twice, by what it says or by its event id (one stream record).
        duplicated = max(
            sum(n - 1 for n in counts.values()),
            len(sub.events) - len({e.event_id for e in sub.events}),
        )
        missing = want - counts.keys()
        extra = counts.keys() - want - ledger.unsure[follower.customer]
        unknown = {key for key in extra if key[0] not in ledger.known_orders}
        if not ledger.unknown_allowed:
            unknown = set()
        foreign = extra - unknown
        statuses: dict[str, list[int]] = {}
        for order, status in got:
            statuses.setdefault(order, []).append(rank.get(status, -1))
        disordered = sum(1 for seen in statuses.values() if seen != sorted(seen))
        check.duplicated += duplicated
        check.missing += len(missing)
        check.not_its_own += len(foreign)
        check.unknown_orders += len(unknown)
        check.out_of_order += disordered
        check.subscriber_errors += len(sub.errors)
        check.ended += sub.completed
        if sub.errors:
            problem(follower, f"errors {str(sub.errors)[:300]}")
        if sub.completed:
            problem(follower, "the server ended the subscription")
        if duplicated:
            problem(follower, f"{duplicated} changes twice")
        if missing:
            problem(follower, f"missing {len(missing)}, e.g. {sorted(missing)[:3]}")
        if foreign:
            problem(follower, f"{len(foreign)} not its own, e.g. {sorted(foreign)[:3]}")
        if disordered:
            problem(follower, f"{disordered} orders' changes out of order")
    return check


# --------------------------------------------------------------------------- latency


def epoch(text: str, cache: dict[str, float]) -> float:
    """changedAt (ISO-8601 UTC with milliseconds) in epoch seconds."""
    value = cache.get(text)
    if value is None:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        value = cache[text] = parsed.timestamp()
    return value


@dataclass
class Spread:
    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            return cls(0, None, None, None)
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.99), max(values))


@dataclass
class Latencies:
    end_to_end: Spread
    to_redis: Spread  # the write to its XADD (the Redis entry id's milliseconds)
    from_redis: Spread  # the XADD to the arrival here
    per_server: list[Spread]


def latencies(followers: list[Follower], measured: set[Key], servers: int) -> Latencies:
    """Over the deliveries of the changes written in the measured window."""
    cache: dict[str, float] = {}
    total: list[float] = []
    to_redis: list[float] = []
    from_redis: list[float] = []
    by_server: list[list[float]] = [[] for _ in range(servers)]
    for follower in followers:
        for event in follower.subscriber.events:
            if (event.order_id, event.status) not in measured:
                continue
            written = epoch(event.changed_at, cache)
            ms = (event.arrived - written) * 1000
            total.append(ms)
            by_server[follower.server].append(ms)
            published = event.cursor.partition("-")[0]
            if published.isdigit():
                to_redis.append(int(published) - written * 1000)
                from_redis.append(event.arrived * 1000 - int(published))
    return Latencies(
        Spread.of(total),
        Spread.of(to_redis),
        Spread.of(from_redis),
        [Spread.of(values) for values in by_server],
    )


# --------------------------------------------------------------------------- the run


@dataclass
class Started:
    """The shopgraph processes this run started, by PID and start time: whatever is
    left of them when the run ends, however it ends, is stopped."""

    processes: list[proc.Process] = field(default_factory=list)

    def add(self, pid: int) -> None:
        ticks = proc.start_ticks(pid)
        if ticks is not None:
            self.processes.append(proc.Process(pid, ticks))

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


def shopgraph_environment(
    endpoint: str, table: str, redis_url: str, extra: list[tuple[str, str]]
) -> dict[str, str]:
    return shopgraph_env(
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        SHOPGRAPH_TABLE=table,
        SHOPGRAPH_SECRET=SECRET,
        SHOPGRAPH_ADMIN_EMAILS=ADMIN_EMAIL,
        SHOPGRAPH_REDIS_URL=redis_url,
        # Every sign-up comes from 127.0.0.1: past the per-address limit (100 in
        # 15 minutes) the last ones would be refused.
        SHOPGRAPH_ADDRESS_MAX_ATTEMPTS="100000",
        PYTHONUNBUFFERED="1",
        **dict(extra),
    )


async def start_processes(
    args: argparse.Namespace,
    env: dict[str, str],
    started: Started,
    workers: list[Process],
    servers: list[Server],
) -> None:
    """Fills `workers` and `servers` as it starts them (the caller stops what is
    there, should one fail), then waits until all are ready."""
    began = time.perf_counter()
    for n in range(args.workers):
        worker = await Process.start(f"stream-worker {n + 1}", "stream-worker", env=env)
        started.add(worker.process.pid)
        workers.append(worker)
    for n in range(args.servers):
        server = await Server.serve(f"serve {n + 1}", env=env)
        started.add(server.process.pid)
        servers.append(server)
    try:
        for worker in workers:
            await worker.wait_for_line(WORKER_LINE, within=args.startup_timeout)
        async with aiohttp.ClientSession(trust_env=False) as session:
            for server in servers:
                await server.ready(session, within=args.startup_timeout)
    except AssertionError as exc:  # tests.scaled's way of saying it exited or never got ready
        raise SystemExit(f"error: {exc}") from None
    print(
        f"{len(workers)} stream workers (PIDs {', '.join(str(w.process.pid) for w in workers)}) "
        f"and {len(servers)} serve processes (PIDs "
        f"{', '.join(str(s.process.pid) for s in servers)}, ports "
        f"{', '.join(str(s.port) for s in servers)}) ready in {time.perf_counter() - began:.1f} s",
        flush=True,
    )


async def stop_processes(processes: Sequence[Process]) -> None:
    """SIGTERM by PID, all at once; what does not go is killed by `Started`."""
    stops = await asyncio.gather(*(p.stop(within=20) for p in processes), return_exceptions=True)
    for process, result in zip(processes, stops, strict=True):
        # Cancelled: the run is being torn down (Ctrl-C, SIGTERM), and `Started` stops it.
        if isinstance(result, Exception):
            print(f"note: {process.name} did not stop: {result!r}", file=sys.stderr)


async def sign_up(clients: list[GraphQLClient], customers: int) -> tuple[str, list[str]]:
    """The admin and the customers (spread over the servers), and the product they order."""
    slots = asyncio.Semaphore(SIGN_UPS_AT_ONCE)

    async def one(n: int, email: str) -> str:
        async with slots:
            client = clients[n % len(clients)]
            up = await client.call(SIGN_UP, {"email": email, "password": PASSWORD}, "signUp")
            return str(up["token"])

    admin = await one(0, ADMIN_EMAIL)
    tokens = await asyncio.gather(
        *(one(n, f"bench-customer{n + 1}@example.com") for n in range(customers))
    )
    created = await clients[0].call(CREATE_PRODUCT, {"id": PRODUCT_ID}, "createProduct", admin)
    if created.get("stock") is not None:
        raise SystemExit(f"error: product {PRODUCT_ID} tracks stock: {created}")
    return admin, list(tokens)


@dataclass
class Baseline:
    """The same changes with nobody subscribed: what the writes and the feed cost."""

    seconds: float
    changes: int
    serve_cpu_s: float

    @property
    def serve_us_per_change(self) -> float | None:
        return self.serve_cpu_s / self.changes * 1e6 if self.changes else None


async def baseline(args: argparse.Namespace, writer: Writer, watched: Watched) -> Baseline:
    run: Run[Change] = Run(time.perf_counter())
    writer.began = run.began
    before = watched.snapshot()
    await open_loop(args.rate, args.baseline_seconds, args.max_outstanding, writer.send, run=run)
    await asyncio.sleep(BASELINE_DRAIN_S)  # the last changes through the workers and Redis
    after = watched.snapshot()
    wrong = [t.result for t in run.done if t.result.wrong]
    if wrong:
        raise SystemExit(f"error: a write of the baseline went wrong: {wrong[0].error}")
    written = sum(1 for t in run.done if t.result.outcome == WRITTEN)
    found = Baseline(after.wall - before.wall, written, sum(after.serve) - sum(before.serve))
    print(
        f"baseline, nobody subscribed: {written} changes in {args.baseline_seconds:g} s, serve "
        f"CPU {found.serve_cpu_s:.2f} s = {fixed(found.serve_us_per_change, 0)} us per change "
        "(the writes and the Redis feed)",
        flush=True,
    )
    return found


async def subscribe_all(
    args: argparse.Namespace,
    servers: list[Server],
    admin: str,  # the admin's session token
    customers: list[str],  # the customers' tokens
    tasks: list[asyncio.Task[None]],
) -> list[Follower]:
    """Every subscriber connected and subscribed, `CONNECTS_AT_ONCE` at a time; their
    tasks go into `tasks` (the caller cancels them)."""
    followers: list[Follower] = []
    seen: Counter[int | None] = Counter()
    for customer, server in deal(
        args.customers, args.subscribers, args.admin_subscribers, len(servers)
    ):
        token = admin if customer is None else customers[customer]
        seen[customer] += 1
        name = "admin" if customer is None else f"customer {customer + 1}"
        sub = LiveSubscriber(f"{name} #{seen[customer]}", token, servers, server)
        followers.append(Follower(sub, customer, server))
    began = time.perf_counter()
    for first in range(0, len(followers), CONNECTS_AT_ONCE):
        batch = followers[first : first + CONNECTS_AT_ONCE]
        tasks.extend(asyncio.create_task(f.subscriber.run()) for f in batch)
        waits = [asyncio.create_task(f.subscriber.subscribed.wait()) for f in batch]
        _, pending = await asyncio.wait(waits, timeout=30)
        for wait in pending:
            wait.cancel()
        if pending:
            failed = next((t for t in tasks if t.done() and t.exception()), None)
            why = repr(failed.exception()) if failed else "no answer within 30 s"
            raise SystemExit(f"error: {len(pending)} subscribers could not subscribe: {why}")
    await asyncio.sleep(args.settle)
    per_server = Counter(f.server for f in followers)
    as_customers = len(followers) - args.admin_subscribers
    print(
        f"{len(followers)} subscribers subscribed in {time.perf_counter() - began:.1f} s "
        f"(+{args.settle:g} s to settle): "
        + ", ".join(f"serve {n + 1}: {per_server[n]}" for n in range(len(servers)))
        + f"; {args.admin_subscribers} as the admin, {as_customers} as "
        f"{min(args.customers, as_customers)} customers",
        flush=True,
    )
    return followers


async def drain(followers: list[Follower], ledger: Ledger, within: float) -> float:
    """Until every subscriber has as many deliveries as it may see (or `within`),
    then a second more for anything extra (a duplicate) to arrive; the wait in s."""
    began = time.perf_counter()
    wanted = [(f.subscriber, len(ledger.written[f.customer])) for f in followers]
    while time.perf_counter() - began < within:
        if all(len(sub.events) >= n for sub, n in wanted):
            break
        await asyncio.sleep(0.2)
    waited = time.perf_counter() - began
    await asyncio.sleep(1.0)
    return waited


@dataclass
class Measured:
    run: Run[Change]
    writer: Writer
    ledger: Ledger
    followers: list[Follower]
    first: Snapshot
    last: Snapshot
    lags: list[float]
    drain_s: float
    baseline: Baseline | None
    servers: list[tuple[int, int]]  # (PID, port)
    serve_rss_mb: list[float | None]
    workers_rss_mb: list[float | None]
    bench_rss_mb: tuple[float | None, float | None]  # before the changes, after the drain
    died: list[str]


async def measure(
    args: argparse.Namespace,
    engine: Engine,
    table: str,
    redis: redis_server.RedisServer,
    started: Started,
) -> Measured:
    env = shopgraph_environment(engine.endpoint, table, redis.url, args.server_env)
    workers: list[Process] = []
    servers: list[Server] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await start_processes(args, env, started, workers, servers)
        watched = Watched(
            [s.process.pid for s in servers],
            [w.process.pid for w in workers],
            redis.process.pid if redis.process else 0,
            engine.pid,
        )
        async with open_session(args.max_outstanding + 8, args.request_timeout) as session:
            clients = [
                GraphQLClient(session, f"{s.base}/graphql", args.request_timeout) for s in servers
            ]
            began = time.perf_counter()
            admin, customers = await sign_up(clients, args.customers)
            print(
                f"signed up {len(customers)} customers and an admin, created product "
                f"{PRODUCT_ID} (no stock) in {time.perf_counter() - began:.1f} s",
                flush=True,
            )
            found = None
            if args.baseline_seconds:
                probe = Writer(
                    clients, admin, customers, args.rate, args.step_gap, args.request_timeout
                )
                found = await baseline(args, probe, watched)
            followers = await subscribe_all(args, servers, admin, customers, tasks)
            writer = Writer(
                clients, admin, customers, args.rate, args.step_gap, args.request_timeout
            )
            print(
                f"changes: {args.rate:g}/s open loop, {args.warmup:g} s warm-up, then "
                f"{args.seconds:g} s measured; an order's steps "
                f"{writer.gap * len(LIFECYCLE) / args.rate:.2f} s apart",
                flush=True,
            )
            lags: list[float] = []
            stop_lag = asyncio.Event()
            lag_task = asyncio.create_task(loop_lag(stop_lag, lags))
            # This process's collector, with the events piling up, pauses the loop for up
            # to ~150 ms: every arrival then looks late. Off until the deliveries are in.
            bench_rss_before = proc.rss_mb(os.getpid())
            gc.collect()
            gc.freeze()
            gc.disable()
            # The schedule's origin: slot n is due n / rate after it.
            run: Run[Change] = Run(time.perf_counter())
            writer.began = run.began
            _, (first, last) = await asyncio.gather(
                open_loop(
                    args.rate,
                    args.warmup + args.seconds,
                    args.max_outstanding,
                    writer.send,
                    run=run,
                ),
                watch_window(run, followers, watched, args.warmup, args.seconds, args.report_every),
            )
            stop_lag.set()
            await lag_task
        ledger = Ledger.of(writer, [t.result for t in run.done], args.customers)
        drain_s = await drain(followers, ledger, args.drain_timeout)
        bench_rss = (bench_rss_before, proc.rss_mb(os.getpid()))
        gc.enable()
        died = [p for p in (*workers, *servers) if not p.alive]
        for process in died:
            output = "\n".join(process.lines[-20:])
            print(f"error: {process.name} exited during the run:\n{output}", file=sys.stderr)
        return Measured(
            run=run,
            writer=writer,
            ledger=ledger,
            followers=followers,
            first=first,
            last=last,
            lags=lags,
            drain_s=drain_s,
            baseline=found,
            servers=[(s.process.pid, s.port) for s in servers],
            serve_rss_mb=[proc.rss_mb(s.process.pid) for s in servers],
            workers_rss_mb=[proc.rss_mb(w.process.pid) for w in workers],
            bench_rss_mb=bench_rss,
            died=[p.name for p in died],
        )
    finally:
        gc.enable()
        # The subscribers first: a serve process stopping would have them move.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop_processes([*servers, *workers])


# --------------------------------------------------------------------------- the report


@dataclass
class Cpu:
    what: str
    seconds: float
    share: float  # of one core
    per_us: float | None
    per: str  # what per_us is per


def cpu_rows(m: Measured, deliveries: int, changes: int) -> list[Cpu]:
    first, last = m.first, m.last
    wall = last.wall - first.wall

    def row(what: str, seconds: float, count: int, per: str) -> Cpu:
        per_us = seconds / count * 1e6 if count else None
        return Cpu(what, seconds, seconds / wall if wall > 0 else 0.0, per_us, per)

    rows = [
        row(
            f"serve ({len(last.serve)})", sum(last.serve) - sum(first.serve), deliveries, "delivery"
        ),
        row(
            f"stream workers ({len(last.workers)})",
            sum(last.workers) - sum(first.workers),
            changes,
            "change",
        ),
        row("redis-server", last.redis - first.redis, changes, "change"),
    ]
    if first.engine is not None and last.engine is not None:
        rows.append(row("engine", last.engine - first.engine, changes, "change"))
    rows.append(row("bench (this process)", last.bench - first.bench, deliveries, "delivery"))
    return rows


def summarize(args: argparse.Namespace, m: Measured) -> dict[str, Any]:
    first, last = m.first, m.last
    window_s = last.wall - first.wall
    start = m.run.began + args.warmup
    in_window = [t.result for t in m.run.done if t.started >= start]
    written = [c for c in in_window if c.outcome == WRITTEN]
    measured_keys = {
        (order_id, LIFECYCLE[c.step])
        for c in written
        if (order_id := m.writer.orders[c.order].order_id) is not None
    }
    lat = latencies(m.followers, measured_keys, args.servers)
    check = check_deliveries(m.followers, m.ledger)
    wrong_writes = [t.result for t in m.run.done if t.result.wrong]
    # Deliveries that arrived while the CPU was measured, for the CPU per delivery.
    per_server = [0] * args.servers
    for f in m.followers:
        per_server[f.server] += sum(
            1 for e in f.subscriber.events if first.wall <= e.arrived < last.wall
        )
    deliveries = sum(per_server)
    cpu = cpu_rows(m, deliveries, len(written))
    serve_cpu = cpu[0].seconds
    net = None
    if m.baseline and m.baseline.serve_us_per_change is not None and deliveries:
        writes_s = m.baseline.serve_us_per_change / 1e6 * len(written)
        net = (serve_cpu - writes_s) / deliveries * 1e6
    busy = (last.machine[0] - first.machine[0]) / max(1, last.machine[1] - first.machine[1])
    late = [c.late_ms for c in in_window if c.outcome != IDLE]
    p99 = lat.end_to_end.p99_ms
    return {
        "options": {
            "servers": args.servers,
            "workers": args.workers,
            "customers": args.customers,
            "subscribers": args.subscribers,
            "admin_subscribers": args.admin_subscribers,
            "rate": args.rate,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "baseline_seconds": args.baseline_seconds,
            "step_gap_s": m.writer.gap * len(LIFECYCLE) / args.rate,
            "redis_durable": not args.redis_memory_only,
            "server_env": dict(args.server_env),
        },
        "engine": args.engine,
        "window_s": window_s,
        "changes": {
            "written_in_window": len(written),
            "rate_achieved": len(written) / window_s if window_s > 0 else 0.0,
            "outcomes": dict(Counter(t.result.outcome for t in m.run.done)),
            "error_codes": dict(Counter(t.result.code for t in m.run.done if t.result.code)),
            "not_started": len(m.run.not_started),
            "late_p99_ms": percentile(late, 0.99) if late else None,
            "late_max_ms": max(late) if late else None,
            "wrong": len(wrong_writes),
            "first_wrong": wrong_writes[0].error if wrong_writes else None,
        },
        "deliveries": asdict(check) | {"in_window": deliveries, "drain_s": m.drain_s},
        "latency_ms": {
            "end_to_end": asdict(lat.end_to_end),
            "write_to_redis": asdict(lat.to_redis),
            "redis_to_subscriber": asdict(lat.from_redis),
        },
        "cpu": [asdict(row) for row in cpu],
        "serve_us_per_delivery_net_of_writes": net,
        "baseline": None if m.baseline is None else asdict(m.baseline),
        "machine_busy_cores": busy * (os.cpu_count() or 1),
        "servers": [
            {
                "pid": pid,
                "port": port,
                "subscribers": sum(1 for f in m.followers if f.server == n),
                "deliveries_in_window": per_server[n],
                "latency_ms": asdict(lat.per_server[n]),
                "cpu_s": last.serve[n] - first.serve[n],
                "us_per_delivery": (
                    (last.serve[n] - first.serve[n]) / per_server[n] * 1e6
                    if per_server[n]
                    else None
                ),
                "rss_mb": m.serve_rss_mb[n],
            }
            for n, (pid, port) in enumerate(m.servers)
        ],
        "workers_rss_mb": m.workers_rss_mb,
        "bench_rss_mb": list(m.bench_rss_mb),
        "bench_loop_lag_ms": {
            "p50": percentile(m.lags, 0.5) if m.lags else None,
            "p99": percentile(m.lags, 0.99) if m.lags else None,
            "max": max(m.lags) if m.lags else None,
        },
        "died": m.died,
        "target": {
            "name": "p99 write -> subscriber",
            "p99_ms": p99,
            "limit_ms": TARGET_P99_MS,
            "ok": None if p99 is None else p99 < TARGET_P99_MS,
        },
        "wrong_answers": check.wrong + len(wrong_writes) + len(m.died),
        **machine(),
    }


LATENCY = Table(
    (
        ("from the write (changedAt)", 26, "<"),
        ("deliveries", 10, ">"),
        ("p50 ms", 8, ">"),
        ("p99 ms", 8, ">"),
        ("max ms", 8, ">"),
    )
)
CPU = Table(
    (
        ("process", 22, "<"),
        ("CPU s", 7, ">"),
        ("of a core", 9, ">"),
        ("us per", 8, ">"),
        ("per", 8, "<"),
    )
)
SERVERS = Table(
    (
        ("serve", 5, ">"),
        ("PID", 7, ">"),
        ("port", 5, ">"),
        ("subscribers", 11, ">"),
        ("deliveries", 10, ">"),
        ("p50 ms", 7, ">"),
        ("p99 ms", 7, ">"),
        ("CPU s", 6, ">"),
        ("us/delivery", 11, ">"),
        ("RSS MB", 7, ">"),
    )
)


def spread_row(name: str, spread: dict[str, Any]) -> list[str]:
    return [
        name,
        str(spread["count"]),
        fixed(spread["p50_ms"]),
        fixed(spread["p99_ms"]),
        fixed(spread["max_ms"]),
    ]


def print_summary(args: argparse.Namespace, s: dict[str, Any]) -> None:
    ch, dv, lat = s["changes"], s["deliveries"], s["latency_ms"]
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(ch["outcomes"].items()))
    print(
        f"\nchanges: {ch['written_in_window']} written in the {s['window_s']:.1f} s window = "
        f"{ch['rate_achieved']:.1f}/s (asked {args.rate:g}/s); slots of the run: {outcomes}; "
        f"sent late p99 {fixed(ch['late_p99_ms'])} ms, max {fixed(ch['late_max_ms'])} ms"
    )
    if ch["error_codes"]:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(ch["error_codes"].items()))
        print(f"  write errors by code: {codes}")
    if ch["first_wrong"]:
        print(f"  first wrong write answer: {ch['first_wrong']}")
    unknown = f", of unknown orders {dv['unknown_orders']}" if dv["unknown_orders"] else ""
    print(
        f"deliveries: expected {dv['expected']}, received {dv['received']} (the last within "
        f"{dv['drain_s']:.1f} s of the last change); missing {dv['missing']}, duplicated "
        f"{dv['duplicated']}, not its own {dv['not_its_own']}, out of order "
        f"{dv['out_of_order']}, subscriber errors {dv['subscriber_errors']}, ended by the "
        f"server {dv['ended']}{unknown}; reconnects {dv['reconnects']}"
    )
    print("\nlatency of the deliveries of the changes written in the window")
    LATENCY.print_header()
    LATENCY.print_row(spread_row("to the subscriber", lat["end_to_end"]))
    LATENCY.print_row(spread_row("  to Redis (XADD)", lat["write_to_redis"]))
    LATENCY.print_row(spread_row("  Redis -> subscriber", lat["redis_to_subscriber"]))
    print(
        f"\nCPU over the {s['window_s']:.1f} s window ({dv['in_window']} deliveries arrived in it)"
    )
    CPU.print_header()
    for row in s["cpu"]:
        CPU.print_row(
            [
                row["what"],
                f"{row['seconds']:.2f}",
                f"{100 * row['share']:.0f}%",
                fixed(row["per_us"], 0),
                row["per"],
            ]
        )
    print(f"  the machine: {s['machine_busy_cores']:.2f} of {os.cpu_count()} cores busy (anyone's)")
    if s["baseline"] is not None:
        b = s["baseline"]
        per_change = b["serve_cpu_s"] / b["changes"] * 1e6 if b["changes"] else None
        print(
            f"  serve net of the writes: {fixed(s['serve_us_per_delivery_net_of_writes'], 0)} us "
            f"per delivery (nobody subscribed, the same changes cost {fixed(per_change, 0)} us "
            "of serve CPU each)"
        )
    print("\nserve processes (RSS at the end)")
    SERVERS.print_header()
    for n, srv in enumerate(s["servers"], start=1):
        SERVERS.print_row(
            [
                str(n),
                str(srv["pid"]),
                str(srv["port"]),
                str(srv["subscribers"]),
                str(srv["deliveries_in_window"]),
                fixed(srv["latency_ms"]["p50_ms"]),
                fixed(srv["latency_ms"]["p99_ms"]),
                f"{srv['cpu_s']:.2f}",
                fixed(srv["us_per_delivery"], 0),
                fixed(srv["rss_mb"]),
            ]
        )
    rss = sum(srv["rss_mb"] or 0.0 for srv in s["servers"])
    workers = ", ".join(fixed(v) for v in s["workers_rss_mb"])
    bench = s["bench_rss_mb"]
    print(
        f"  serve RSS in all {rss:.1f} MB; stream workers {workers} MB; this process "
        f"{fixed(bench[0])} -> {fixed(bench[1])} MB (its collector off while measuring)"
    )
    lag = s["bench_loop_lag_ms"]
    print(
        f"\nbench loop lag (how late a {LAG_TICK_S * 1000:.0f} ms timer fired; an arrival time "
        f"here can be as late): p50 {fixed(lag['p50'])} ms, p99 {fixed(lag['p99'])} ms, "
        f"max {fixed(lag['max'])} ms"
    )
    t = s["target"]
    print("\ntarget")
    limit = f"< {t['limit_ms']:.0f} ms"
    print(f"  {t['name']:<26} {fixed(t['p99_ms']):>8} ms  {limit}  {verdict(t['ok'])}")
    if s["died"]:
        print(f"  processes that exited during the run: {', '.join(s['died'])}")
    answers = "correct" if s["wrong_answers"] == 0 else f"WRONG ({s['wrong_answers']})"
    print(f"  answers: {answers}")
    for line in dv["problems"]:
        print(f"    {line}")


# --------------------------------------------------------------------------- main


async def create_table(settings: Settings, endpoint: str) -> None:
    async with open_client(settings, endpoint) as client:
        await ensure_table(client, settings.table_name)


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_files_limit()
    if redis_server.available() is None:
        exit_with(2, "error: redis-server is not installed (make redis installs it as root)")
    print("shopgraph subscriber bench")
    print_machine(machine())
    started = Started()
    with ExitStack() as stack:
        use_local_credentials(args.engine)
        try:
            engine = stack.enter_context(open_engine(args.engine, args.endpoint_url))
        except EngineStartError as exc:
            exit_with(2, f"error: the engine did not start: {exc}")
        table = new_table_name("shopgraph-subscribers")
        settings = Settings.from_env(dict(os.environ, SHOPGRAPH_TABLE=table))
        stack.callback(drop_table, settings, engine.endpoint)
        run_async(create_table(settings, engine.endpoint))
        redis = redis_server.RedisServer(durable=not args.redis_memory_only)
        stack.callback(redis.close)
        redis.start()
        kept = "memory only" if args.redis_memory_only else "append-only file, fsync always"
        pid = redis.process.pid if redis.process else "-"
        print(f"redis-server PID {pid} on {redis.url} ({kept}); table {table}", flush=True)
        # Last in, first out: the shopgraph processes go before Redis and the engine.
        stack.callback(started.stop_all)
        measured = run_async(measure(args, engine, table, redis, started))
    summary = summarize(args, measured)
    print_summary(args, summary)
    return summary


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    return 1 if summary["wrong_answers"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench(
        argv,
        parse_args,
        run,
        finish,
        stopped="the serve and stream-worker processes, redis-server and the engine",
    )


if __name__ == "__main__":
    sys.exit(main())
