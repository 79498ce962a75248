"""shopgraph overload bench: does the server keep its goodput far past its admission limit?

Starts an engine (DynamoDB Local by default), seeds a fresh table, runs
`python -m shopgraph serve` on it (127.0.0.1, free port), then sends the category
page closed-loop (each connection sends its next request as soon as its answer
is in, ignoring Retry-After, as wrk does) at each `--connections` level for
`--seconds`. Per level: goodput (good answers/s), 503 OVERLOADED answers (each
checked for Retry-After and the code), other errors, p50/p99 of the admitted
answers, the server's RSS and peak open sockets, the CPU of this client, the
server and the engine, and the latency of one `{ __typename }` sent `--pause`
after the level against the same on the idle server. Targets are met or missed;
the exit status is 1 only when an answer was wrong. Everything it starts it
stops by PID, on failure and on Ctrl-C / SIGTERM too.

    .venv/bin/python -m bench.overload
    .venv/bin/python -m bench.overload --seconds 4 --connections 16,256 --json
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from bench.cli import (
    bench_parser,
    non_negative_float,
    positive_float,
    positive_int_list,
    raise_open_files_limit,
    run_bench,
)
from bench.load import LOAD_ERRORS, GraphQLClient, error_code, open_session, run_async
from bench.loops import Run, closed_loop
from bench.proc import cpu_seconds, rss_mb, socket_count
from bench.queries import CATEGORY_PAGE, TRIVIAL, category_nodes
from bench.report import Table, fixed, machine, percentile, print_json, print_machine, verdict
from bench.scrape import scrape
from bench.server import Server
from bench.stack import Stack, add_stack_arguments, check_stack_arguments, seeded, serve
from shopgraph.data.seed import CATEGORIES

# Targets, at 16x and 64x the connections of the first (lowest) level: the point
# where the server is busy but not yet overloaded, whose goodput is the best it does.
TARGET_FACTORS = (16, 64)
GOODPUT_SHARE = 0.80
P99_LIMIT_MS = 1000.0
# "About as fast as idle": within twice the idle latency, or 2 ms of it when that is more.
AFTER_BURST_FACTOR, AFTER_BURST_SLACK_MS = 2.0, 2.0
IDLE_PROBES = 5
WATCH_EVERY_S = 1.0

GOOD, SHED, ERROR, NO_ANSWER, WRONG = "good", "shed", "error", "no answer", "wrong"


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, "bench.overload")
    add_stack_arguments(parser, customers=20, products=200, orders_per_customer=5)
    parser.add_argument(
        "--category",
        choices=CATEGORIES,
        default=CATEGORIES[0],
        help="the category page's category (default %(default)s)",
    )
    parser.add_argument(
        "--connections",
        type=positive_int_list,
        default=[16, 256, 1024],
        help="levels, each in turn (default 16,256,1024)",
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=20.0, help="per level (default %(default)g)"
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=3.0,
        help="s of load at the first level before the idle figure; 0: none (default %(default)g)",
    )
    parser.add_argument(
        "--pause",
        type=positive_float,
        default=1.0,
        help="s between a level's end and the after-burst request, and before the idle "
        "ones (default %(default)g)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_float,
        default=10.0,
        help="s; past it a request counts as no answer (default %(default)g)",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_stack_arguments(parser, args)
    return args


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Answer:
    kind: str
    code: str | None = None
    problem: str | None = None


def classify(status: int, retry_after: str | None, body: Any, expected: list[str]) -> Answer:
    """Good (200, no errors, the page as the first answer had it), shed (503
    OVERLOADED with a Retry-After of whole seconds), an honest error, or wrong."""
    code = error_code(body, status)
    if code is None:
        nodes = category_nodes(body)
        if nodes is None:
            return Answer(WRONG, "BAD_ANSWER", f"fields missing: {str(body)[:200]}")
        if [node["id"] for node in nodes] != expected:
            return Answer(WRONG, "BAD_ANSWER", f"other products: {str(body)[:200]}")
        return Answer(GOOD)
    if code == "OVERLOADED":
        if status != 503 or not (retry_after or "").isdigit():
            problem = f"OVERLOADED with HTTP {status}, Retry-After {retry_after!r}"
            return Answer(WRONG, code, problem)
        return Answer(SHED, code)
    if code in LOAD_ERRORS:
        return Answer(ERROR, code)
    return Answer(WRONG, code, f"HTTP {status}: {str(body)[:200]}")


class CategoryClient:
    def __init__(self, client: GraphQLClient, category: str, expected: list[str]) -> None:
        self.client = client
        self.variables = {"category": category}
        self.expected = expected

    async def send(self, n: int) -> Answer:
        try:
            reply = await self.client.exchange(CATEGORY_PAGE, self.variables)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(NO_ANSWER, type(exc).__name__)
        except ValueError as exc:  # not JSON
            return Answer(WRONG, "NOT_JSON", str(exc)[:200])
        return classify(reply.status, reply.headers.get("Retry-After"), reply.body, self.expected)


async def first_page(url: str, category: str, request_timeout: float) -> list[str]:
    """The category's product ids, from one request on the idle server."""
    async with open_session(1, request_timeout) as session:
        status, body = await GraphQLClient(session, url, request_timeout).post(
            CATEGORY_PAGE, {"category": category}
        )
    nodes = category_nodes(body) if error_code(body, status) is None else None
    if not nodes:
        raise SystemExit(f"error: the category page of {category!r} failed: {str(body)[:300]}")
    return [node["id"] for node in nodes]


async def trivial_ms(url: str, request_timeout: float) -> float | None:
    """One `{ __typename }` on a connection of its own; None when it failed."""
    async with open_session(1, request_timeout) as session:
        sample, body = await GraphQLClient(session, url, request_timeout).send(TRIVIAL, {})
    ok = sample.error is None and (body.get("data") or {}).get("__typename") == "Query"
    return sample.latency_ms if ok else None


# --------------------------------------------------------------------------- a level


@dataclass
class Peaks:
    """What the server showed while a level ran, polled every second."""

    sockets: int = 0
    in_flight: float = 0.0
    queued: float = 0.0
    limit: float | None = None  # the last seen


async def watch(server: Server, peaks: Peaks, stop: asyncio.Event) -> None:
    timeout = aiohttp.ClientTimeout(total=WATCH_EVERY_S)
    # A session of its own: the level's pool is full.
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        while not stop.is_set():
            peaks.sockets = max(peaks.sockets, socket_count(server.pid) or 0)
            found = await scrape(session, server.base_url)
            peaks.in_flight = max(peaks.in_flight, found.get("shopgraph_in_flight", 0.0))
            peaks.queued = max(peaks.queued, found.get("shopgraph_queued", 0.0))
            peaks.limit = found.get("shopgraph_concurrency_limit", peaks.limit)
            with suppress(TimeoutError):  # the next poll
                await asyncio.wait_for(stop.wait(), WATCH_EVERY_S)


async def server_shed(server: Server) -> float | None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        return (await scrape(session, server.base_url)).get("shopgraph_shed")


@dataclass
class Level:
    connections: int
    seconds: float
    answers: int
    good: int
    goodput: float
    shed: int
    errors: int
    no_answer: int
    wrong: int
    cut: int
    codes: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None
    server_rss_mb: float | None
    peak_sockets: int
    peak_in_flight: float
    peak_queued: float
    limit: float | None
    server_shed: float | None
    after_burst_ms: float | None
    bench_cpu_s: float
    server_cpu_s: float
    engine_cpu_s: float | None
    share_of_best: float | None = None
    first_wrong: str | None = field(default=None, repr=False)


def summarize(connections: int, run: Run[Answer]) -> Level:
    kinds = Counter(t.result.kind for t in run.done)
    good_ms = [t.ms for t in run.done if t.result.kind == GOOD]
    codes = Counter(t.result.code for t in run.done if t.result.code and t.result.kind != GOOD)
    wrong = next((t.result.problem for t in run.done if t.result.kind == WRONG), None)
    return Level(
        connections=connections,
        seconds=run.seconds,
        answers=len(run.done),
        good=kinds[GOOD],
        goodput=kinds[GOOD] / run.seconds if run.seconds > 0 else 0.0,
        shed=kinds[SHED],
        errors=kinds[ERROR],
        no_answer=kinds[NO_ANSWER],
        wrong=kinds[WRONG],
        cut=run.cut,
        codes=dict(codes),
        p50_ms=percentile(good_ms, 0.50) if good_ms else None,
        p99_ms=percentile(good_ms, 0.99) if good_ms else None,
        server_rss_mb=None,
        peak_sockets=0,
        peak_in_flight=0.0,
        peak_queued=0.0,
        limit=None,
        server_shed=None,
        after_burst_ms=None,
        bench_cpu_s=0.0,
        server_cpu_s=0.0,
        engine_cpu_s=None,
        first_wrong=wrong,
    )


async def run_level(
    args: argparse.Namespace, server: Server, stack: Stack, expected: list[str], connections: int
) -> Level:
    engine_pids = [stack.engine.pid] if stack.engine.pid else []
    shed_before = await server_shed(server)
    cpu_before = (time.process_time(), cpu_seconds([server.pid]), cpu_seconds(engine_pids))
    peaks, stop = Peaks(), asyncio.Event()
    watcher = asyncio.create_task(watch(server, peaks, stop))
    try:
        async with open_session(connections, args.request_timeout) as session:
            client = CategoryClient(
                GraphQLClient(session, server.graphql_url, args.request_timeout),
                args.category,
                expected,
            )
            run = await closed_loop(connections, args.seconds, client.send)
    finally:
        stop.set()
        await watcher
    level = summarize(connections, run)
    level.bench_cpu_s = time.process_time() - cpu_before[0]
    level.server_cpu_s = cpu_seconds([server.pid]) - cpu_before[1]
    level.engine_cpu_s = cpu_seconds(engine_pids) - cpu_before[2] if engine_pids else None
    level.server_rss_mb = rss_mb(server.pid)
    level.peak_sockets = peaks.sockets
    level.peak_in_flight, level.peak_queued, level.limit = (
        peaks.in_flight,
        peaks.queued,
        peaks.limit,
    )
    await asyncio.sleep(args.pause)
    level.after_burst_ms = await trivial_ms(server.graphql_url, args.request_timeout)
    shed_after = await server_shed(server)
    if shed_before is not None and shed_after is not None:
        level.server_shed = shed_after - shed_before
    return level


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    connections: int | None
    value: str
    limit: str
    ok: bool | None


def after_burst_limit_ms(idle_ms: float) -> float:
    return max(AFTER_BURST_FACTOR * idle_ms, idle_ms + AFTER_BURST_SLACK_MS)


def check_targets(levels: list[Level], idle_ms: float | None) -> list[Target]:
    best = min(levels, key=lambda level: level.connections)
    targets: list[Target] = []
    for factor in TARGET_FACTORS:
        connections = best.connections * factor
        level = next((lv for lv in levels if lv.connections == connections), None)
        where = f"{connections} conns ({factor}x {best.connections})"
        if level is None:
            targets.append(Target(f"{where}: not measured", None, "-", "-", None))
            continue
        share = level.share_of_best or 0.0
        targets.append(
            Target(
                f"{where}: goodput",
                connections,
                f"{100 * share:.0f}% of best",
                f">= {100 * GOODPUT_SHARE:.0f}%",
                share >= GOODPUT_SHARE,
            )
        )
        p99 = level.p99_ms
        targets.append(
            Target(
                f"{where}: p99 of admitted",
                connections,
                "-" if p99 is None else f"{p99:.0f} ms",
                f"< {P99_LIMIT_MS:.0f} ms",
                None if p99 is None else p99 < P99_LIMIT_MS,
            )
        )
        after = level.after_burst_ms
        limit = None if idle_ms is None else after_burst_limit_ms(idle_ms)
        targets.append(
            Target(
                f"{where}: after the burst",
                connections,
                "failed" if after is None else f"{after:.1f} ms",
                "-" if limit is None else f"<= {limit:.1f} ms (idle {idle_ms:.1f})",
                None if limit is None else after is not None and after <= limit,
            )
        )
    return targets


# --------------------------------------------------------------------------- output

ANSWERS = Table(
    (
        ("conns", 5, ">"),
        ("answers", 7, ">"),
        ("good/s", 7, ">"),
        ("% best", 6, ">"),
        ("shed", 7, ">"),
        ("errors", 6, ">"),
        ("no answer", 9, ">"),
        ("wrong", 5, ">"),
        ("cut", 5, ">"),
        ("p50 ms", 7, ">"),
        ("p99 ms", 7, ">"),
        ("after ms", 8, ">"),
    )
)
RESOURCES = Table(
    (
        ("conns", 5, ">"),
        ("limit", 5, ">"),
        ("in flight", 9, ">"),
        ("queued", 6, ">"),
        ("sockets", 7, ">"),
        ("shed (srv)", 10, ">"),
        ("RSS MB", 7, ">"),
        ("bench CPU s", 11, ">"),
        ("server CPU s", 12, ">"),
        ("engine CPU s", 12, ">"),
    )
)


def print_levels(levels: list[Level]) -> None:
    print("\nanswers (p50/p99 of the good answers; after: `{ __typename }` after the level)")
    ANSWERS.print_header()
    for lv in levels:
        ANSWERS.print_row(
            [
                str(lv.connections),
                str(lv.answers),
                f"{lv.goodput:.1f}",
                fixed(None if lv.share_of_best is None else 100 * lv.share_of_best, 0),
                str(lv.shed),
                str(lv.errors),
                str(lv.no_answer),
                str(lv.wrong),
                str(lv.cut),
                fixed(lv.p50_ms),
                fixed(lv.p99_ms),
                fixed(lv.after_burst_ms),
            ]
        )
    print("\nserver (peaks over the level, polled each second; RSS after it) and CPU")
    RESOURCES.print_header()
    for lv in levels:
        RESOURCES.print_row(
            [
                str(lv.connections),
                fixed(lv.limit, 0),
                fixed(lv.peak_in_flight, 0),
                fixed(lv.peak_queued, 0),
                str(lv.peak_sockets),
                fixed(lv.server_shed, 0),
                fixed(lv.server_rss_mb),
                f"{lv.bench_cpu_s:.1f} ({100 * lv.bench_cpu_s / lv.seconds:.0f}%)",
                f"{lv.server_cpu_s:.1f}",
                fixed(lv.engine_cpu_s),
            ]
        )


def print_targets(targets: list[Target]) -> None:
    print("\ntargets")
    for t in targets:
        print(f"  {t.name:<44} {t.value:>14}  {t.limit:<26} {verdict(t.ok)}")


def print_notes(levels: list[Level], warmup_wrong: str | None) -> None:
    for lv in levels:
        if lv.codes:
            codes = ", ".join(f"{code} {n}" for code, n in sorted(lv.codes.items()))
            print(f"  {lv.connections} conns, not good by code: {codes}")
        if lv.first_wrong:
            print(f"  {lv.connections} conns, first wrong answer: {lv.first_wrong}")
    if warmup_wrong:
        print(f"  warm-up, first wrong answer: {warmup_wrong}")


def header(args: argparse.Namespace, stack: Stack, server: Server) -> dict[str, Any]:
    return {
        "engine": args.engine,
        "endpoint": stack.engine.endpoint,
        "table": stack.table,
        "server": server.base_url,
        "server_pid": server.pid,
        "category": args.category,
        "connections": args.connections,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "server_env": dict(args.server_env),
        "seed": stack.loaded.as_dict(),
        **machine(),
    }


# --------------------------------------------------------------------------- main


async def measure(args: argparse.Namespace, server: Server, stack: Stack) -> dict[str, Any]:
    expected = await first_page(server.graphql_url, args.category, args.request_timeout)
    warmup_wrong: str | None = None
    warmup_wrong_count = 0
    if args.warmup:
        connections = args.connections[0]
        async with open_session(connections, args.request_timeout) as session:
            client = CategoryClient(
                GraphQLClient(session, server.graphql_url, args.request_timeout),
                args.category,
                expected,
            )
            warm = summarize(connections, await closed_loop(connections, args.warmup, client.send))
        warmup_wrong, warmup_wrong_count = warm.first_wrong, warm.wrong
        print(f"warm-up: {args.warmup:.0f} s at {connections} conns, {warm.goodput:.0f} good/s")
    await asyncio.sleep(args.pause)
    idle = [await trivial_ms(server.graphql_url, args.request_timeout) for _ in range(IDLE_PROBES)]
    answered = [v for v in idle if v is not None]
    idle_ms = statistics.median(answered) if answered else None
    print(f"idle server: `{TRIVIAL}` in {fixed(idle_ms)} ms (median of {IDLE_PROBES})", flush=True)
    levels: list[Level] = []
    for connections in args.connections:
        level = await run_level(args, server, stack, expected, connections)
        print(
            f"  {connections:>5} conns: {level.goodput:8.1f} good/s, {level.shed} shed, "
            f"{level.errors + level.no_answer + level.wrong} other, p99 {fixed(level.p99_ms)} ms, "
            f"after {fixed(level.after_burst_ms)} ms",
            flush=True,
        )
        levels.append(level)
    best = min(levels, key=lambda level: level.connections).goodput
    for level in levels:
        level.share_of_best = level.goodput / best if best > 0 else None
    return {
        "idle_ms": idle_ms,
        "idle_probes_ms": idle,
        "warmup_wrong": warmup_wrong_count,
        "warmup_first_wrong": warmup_wrong,
        "levels": levels,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_files_limit()
    print("shopgraph overload bench")
    print_machine(machine())
    with ExitStack() as stack:
        seeded_stack = seeded(stack, args, "shopgraph-overload")
        server = serve(stack, args, seeded_stack, log_name="overload")
        info = header(args, seeded_stack, server)
        measured = run_async(measure(args, server, seeded_stack))
    levels: list[Level] = measured["levels"]
    targets = check_targets(levels, measured["idle_ms"])
    print_levels(levels)
    print_targets(targets)
    print_notes(levels, measured["warmup_first_wrong"])
    print(
        "note: this client shares the machine's CPUs with the server and the engine "
        "(bench CPU s above; 100% is one core)"
    )
    wrong = measured["warmup_wrong"] + sum(level.wrong for level in levels)
    return {
        **info,
        "idle_ms": measured["idle_ms"],
        "idle_probes_ms": measured["idle_probes_ms"],
        "levels": [asdict(level) for level in levels],
        "targets": [asdict(t) for t in targets],
        "wrong_answers": wrong,
    }


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    return 1 if summary["wrong_answers"] else 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse_args, run, finish, stopped="the server and the engine")


if __name__ == "__main__":
    sys.exit(main())
