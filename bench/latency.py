"""shopgraph read-path latency: how many sequential DynamoDB round trips the profile page waits on.

Starts an engine (DynamoDB Local by default), seeds a fresh table, starts the
fault proxy of tests/faultproxy.py in this process in front of the engine with a
LATENCY rule adding `--added-ms` to every call, and runs `python -m shopgraph
serve` pointed at the proxy. Signed in as a seeded customer, it requests the
profile page at concurrency 1: `--requests` with the added latency, recording at
the proxy each call's operation, start and end, then as many without it. It
prints one request's calls grouped in waves (a new wave starts when a call
starts after every earlier call of the request has ended), the p50 / p99 with
and without the added latency, and the target p50 <= waves x added + slack.
The exit status is 1 when a request failed. Everything it starts it stops, on
failure and on Ctrl-C / SIGTERM too.

    .venv/bin/python -m bench.latency
    .venv/bin/python -m bench.latency --requests 30 --added-ms 5 --json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

from bench.cli import (
    bench_parser,
    non_negative_int,
    positive_float,
    positive_int,
    run_bench,
)
from bench.load import GraphQLClient, Sample, open_session, run_async
from bench.proxy import Call, Fault, ProxyThread, Rule, proxy_thread
from bench.queries import PROFILE_PAGE
from bench.report import Table, machine, percentile, print_json, print_machine, verdict
from bench.server import Server
from bench.stack import Stack, add_stack_arguments, check_stack_arguments, seeded, serve
from shopgraph.data.seed import customer_email

# The stream's calls are not a request's (the consumer is off here anyway).
STREAM_OPERATIONS = frozenset({"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"})


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, "bench.latency")
    add_stack_arguments(parser, customers=10, products=200, orders_per_customer=20)
    parser.add_argument(
        "--added-ms",
        type=positive_float,
        default=2.0,
        help="latency the proxy adds to each call (default %(default)g)",
    )
    parser.add_argument(
        "--requests",
        type=positive_int,
        default=200,
        help="sequential requests, with the added latency and without (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        default=20,
        help="requests before each of the two runs (default %(default)s)",
    )
    parser.add_argument(
        "--slack-ms",
        type=float,
        default=3.0,
        help="the target: p50 <= waves x added + this (default %(default)g)",
    )
    parser.add_argument(
        "--viewer",
        type=positive_int,
        default=1,
        help="signs in as customerN of the seed (default %(default)s)",
    )
    parser.add_argument(
        "--request-timeout", type=positive_float, default=30.0, help="s (default %(default)g)"
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_stack_arguments(parser, args)
    return args


# --------------------------------------------------------------------------- waves


@dataclass(frozen=True)
class WavedCall:
    wave: int
    operation: str
    start_ms: float  # from the request's start
    ms: float


def in_waves(calls: list[Call], began: float) -> list[WavedCall]:
    """The calls in start order, each with its wave: a new wave starts when a call
    starts after every earlier call has ended."""
    waved: list[WavedCall] = []
    wave, ended = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if call.started >= ended:
            wave += 1
        ended = max(ended, call.ended)
        waved.append(
            WavedCall(
                wave,
                call.operation,
                (call.started - began) * 1000,
                (call.ended - call.started) * 1000,
            )
        )
    return waved


def wave_count(waved: list[WavedCall]) -> int:
    return waved[-1].wave if waved else 0


@dataclass(frozen=True)
class Request:
    began: float
    ended: float
    sample: Sample


def calls_of(request: Request, calls: list[Call]) -> list[Call]:
    """The request's calls: at concurrency 1, those within its time."""
    return [
        c
        for c in calls
        if request.began <= c.started
        and c.ended <= request.ended
        and c.operation not in STREAM_OPERATIONS
    ]


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    added_ms: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    first_error: str | None


def summarize(added_ms: float, requests: list[Request]) -> Row:
    ms = [r.sample.latency_ms for r in requests]
    errors = [r.sample.error for r in requests if r.sample.error]
    return Row(
        added_ms=added_ms,
        requests=len(requests),
        errors=len(errors),
        p50_ms=percentile(ms, 0.50),
        p99_ms=percentile(ms, 0.99),
        mean_ms=statistics.fmean(ms) if ms else 0.0,
        first_error=errors[0] if errors else None,
    )


class Profile:
    def __init__(self, client: GraphQLClient, token: str) -> None:
        self.client = client
        self.token = token

    async def send(self) -> Request:
        began = time.perf_counter()
        sample, _ = await self.client.send(PROFILE_PAGE, {}, self.token, expect="viewer")
        return Request(began, time.perf_counter(), sample)

    async def many(self, count: int) -> list[Request]:
        return [await self.send() for _ in range(count)]


@dataclass
class Measured:
    with_added: list[Request]
    calls: list[Call]
    without: list[Request]


async def measure(
    args: argparse.Namespace, server: Server, proxy: ProxyThread, rule: Rule, password: str
) -> Measured:
    async with open_session(1, args.request_timeout) as session:
        client = GraphQLClient(session, server.graphql_url, args.request_timeout)
        profile = Profile(client, await client.log_in(customer_email(args.viewer), password))
        first = await profile.send()
        if first.sample.error:
            raise SystemExit(f"error: the profile page failed: {first.sample.error}")
        await profile.many(args.warmup)
        calls = proxy.recording()
        try:
            with_added = await profile.many(args.requests)
        finally:
            proxy.stop_recording()
        proxy.remove(rule)
        await profile.many(args.warmup)
        without = await profile.many(args.requests)
    return Measured(with_added, list(calls), without)


# --------------------------------------------------------------------------- output

CALLS = Table(
    (("#", 3, ">"), ("wave", 4, ">"), ("operation", 16, "<"), ("start ms", 8, ">"), ("ms", 6, ">"))
)
ROWS = Table(
    (
        ("added ms/call", 13, ">"),
        ("requests", 8, ">"),
        ("errors", 6, ">"),
        ("p50 ms", 7, ">"),
        ("p99 ms", 7, ">"),
        ("mean ms", 7, ">"),
    )
)


def print_calls(waved: list[WavedCall], request: Request) -> None:
    print(
        f"\na typical profile request ({request.sample.latency_ms:.1f} ms at the client), "
        "its calls at the proxy (start from the request's start; ms with the added latency):"
    )
    CALLS.print_header()
    for n, call in enumerate(waved, 1):
        CALLS.print_row(
            [str(n), str(call.wave), call.operation, f"{call.start_ms:.1f}", f"{call.ms:.1f}"]
        )


def print_rows(rows: list[Row]) -> None:
    print()
    ROWS.print_header()
    for row in rows:
        ROWS.print_row(
            [
                f"{row.added_ms:g}",
                str(row.requests),
                str(row.errors),
                f"{row.p50_ms:.1f}",
                f"{row.p99_ms:.1f}",
                f"{row.mean_ms:.1f}",
            ]
        )


def report(args: argparse.Namespace, measured: Measured) -> dict[str, Any]:
    per_request = [in_waves(calls_of(r, measured.calls), r.began) for r in measured.with_added]
    counts = Counter(wave_count(w) for w in per_request)
    waves = counts.most_common(1)[0][0]
    # Of the requests with that count, the one at the median latency: a typical one.
    typical = sorted(
        (r.sample.latency_ms, i)
        for i, (r, w) in enumerate(zip(measured.with_added, per_request, strict=True))
        if wave_count(w) == waves
    )
    shown = typical[len(typical) // 2][1]
    print_calls(per_request[shown], measured.with_added[shown])
    spread = ", ".join(f"{w} waves in {n}" for w, n in sorted(counts.items()))
    print(f"waves: {waves} ({spread} of {len(per_request)} requests)")
    rows = [summarize(args.added_ms, measured.with_added), summarize(0.0, measured.without)]
    print_rows(rows)
    limit = waves * args.added_ms + args.slack_ms
    ok = rows[0].p50_ms <= limit
    print(
        f"\ntarget: p50 {rows[0].p50_ms:.1f} ms <= {waves} waves x {args.added_ms:g} ms "
        f"+ {args.slack_ms:g} ms = {limit:.1f} ms: {verdict(ok)}"
    )
    print(
        f"  (without the added latency p50 is {rows[1].p50_ms:.1f} ms; the added latency cost "
        f"{rows[0].p50_ms - rows[1].p50_ms:.1f} ms at p50, {waves} waves x {args.added_ms:g} = "
        f"{waves * args.added_ms:g} ms expected)"
    )
    for row in rows:
        if row.first_error:
            print(f"first error with {row.added_ms:g} ms added: {row.first_error}")
    return {
        "waves": waves,
        "waves_per_request": dict(counts),
        "calls": [asdict(c) for c in per_request[shown]],
        "rows": [asdict(row) for row in rows],
        "target": {"p50_ms": rows[0].p50_ms, "limit_ms": limit, "met": ok},
        "errors": sum(row.errors for row in rows),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    print("shopgraph read-path latency bench")
    print_machine(machine())
    with ExitStack() as stack:
        # No stream consumer: its polling would go through the proxy, delayed too.
        seeded_stack: Stack = seeded(
            stack, args, "shopgraph-latency", {"SHOPGRAPH_STREAM_CONSUMER": "off"}
        )
        proxy = stack.enter_context(proxy_thread(seeded_stack.engine.endpoint))
        rule = proxy.add(Rule(Fault.LATENCY, latency=args.added_ms / 1000))
        server = serve(stack, args, seeded_stack, log_name="latency", endpoint=proxy.url)
        print(
            f"profile page as customer{args.viewer}, concurrency 1, {args.requests} requests "
            f"with {args.added_ms:g} ms added per call, then {args.requests} without",
            flush=True,
        )
        password = seeded_stack.settings.demo_password
        measured = run_async(measure(args, server, proxy, rule, password))
    summary = report(args, measured)
    return {
        "engine": args.engine,
        "table": seeded_stack.table,
        "added_ms": args.added_ms,
        "requests": args.requests,
        "slack_ms": args.slack_ms,
        "query": PROFILE_PAGE,
        "seed": seeded_stack.loaded.as_dict(),
        **machine(),
        **summary,
    }


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    return 1 if summary["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse_args, run, finish, stopped="the server, the proxy and the engine")


if __name__ == "__main__":
    sys.exit(main())
