"""shopgraph steady soak: latency, errors and memory of a read/write mix at a steady rate.

Starts an engine (DynamoDB Local by default), seeds a fresh table, runs
`python -m shopgraph serve` on it (127.0.0.1, free port), and sends a mix of 80%
reads (product, category and profile page) and 20% writes (placeOrder of 1-3
lines, transferPoints of 1 point, updateOrderStatus one step along on orders
this run placed). First closed-loop at `--probe-connections` for
`--probe-seconds`, for the mix's maximum throughput; then open-loop at `--load`
of it (requests start on a schedule, answered or not, at most
`--max-outstanding` out at once) for `--minutes`. Each window (a minute by
default) prints req/s, p50, p99, errors by code, and the RSS of the server and
the engine; at the end the targets: no errors, a steady p99 and RSS growth
under 5%, each met or missed. The exit status is 1 only when an answer was
wrong. Everything it starts it stops by PID, on failure and on Ctrl-C / SIGTERM too.

    .venv/bin/python -m bench.steady
    .venv/bin/python -m bench.steady --minutes 1 --probe-seconds 5 --window-seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

from bench.cli import (
    bench_parser,
    fraction,
    positive_float,
    positive_int,
    raise_open_files_limit,
    run_bench,
)
from bench.load import LOAD_ERRORS, GraphQLClient, field_of, open_session, run_async
from bench.loops import Run, Timed, closed_loop, open_loop
from bench.proc import rss_mb
from bench.queries import (
    CATEGORY_PAGE,
    PRODUCT_FIELDS,
    PRODUCT_PAGE,
    PROFILE_PAGE,
    category_nodes,
    product_id,
)
from bench.report import Table, fixed, machine, percentile, print_json, print_machine, verdict
from bench.server import Server
from bench.stack import Stack, add_stack_arguments, check_stack_arguments, seeded, serve
from bench.writes import Plan, Writes, prepare
from shopgraph.data.seed import CATEGORIES

# 15 slots: each read 4 times, each write once (80% / 20%), spread out.
SLOTS = (
    "product",
    "category",
    "profile",
    "product",
    "placeOrder",
    "category",
    "profile",
    "product",
    "category",
    "transferPoints",
    "profile",
    "product",
    "category",
    "profile",
    "updateOrderStatus",
)
# Not answers: requests the client never sent (the outstanding cap was reached) or
# had nothing to send (no order of this run waiting for its next step).
NOT_STARTED, NO_ORDER = "NOT_STARTED", "NO_ORDER"
# Beside the errors of a loaded server: two transfers of one pair that met.
HONEST_ERRORS = LOAD_ERRORS | {"CONFLICT"}
RSS_GROWTH_LIMIT = 0.05


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, "bench.steady")
    add_stack_arguments(parser, customers=50, products=200, orders_per_customer=10)
    parser.add_argument(
        "--probe-connections",
        type=positive_int,
        default=16,
        help="closed-loop connections of the maximum's probe (default %(default)s)",
    )
    parser.add_argument(
        "--probe-seconds",
        type=positive_float,
        default=20.0,
        help="of the probe (default %(default)g)",
    )
    parser.add_argument(
        "--load",
        type=fraction,
        default=0.8,
        help="the steady rate, as a share of the probe's maximum (default %(default)g)",
    )
    parser.add_argument(
        "--minutes",
        type=positive_float,
        default=10.0,
        help="of the steady run (default %(default)g)",
    )
    parser.add_argument(
        "--window-seconds",
        type=positive_float,
        default=60.0,
        help="per report line; shorter for a quick check (default %(default)g)",
    )
    parser.add_argument(
        "--max-outstanding",
        type=positive_int,
        default=256,
        help="requests out at once; one due beyond that is not sent and counts as an "
        "error (default %(default)s)",
    )
    parser.add_argument(
        "--arrivals",
        choices=("even", "poisson"),
        default="even",
        help="spacing of the requests (default %(default)s)",
    )
    parser.add_argument(
        "--p99-ratio",
        type=positive_float,
        default=2.0,
        help="steadiness target: largest / smallest window p99 from the second window on "
        "(default %(default)g)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_float,
        default=10.0,
        help="s; past it a request counts as an error (default %(default)g)",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_stack_arguments(parser, args)
    return args


# --------------------------------------------------------------------------- the mix


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # the page or the mutation
    code: str | None = None  # None: a good answer
    answered: bool = True
    problem: str | None = None

    @property
    def wrong(self) -> bool:
        return self.answered and self.code is not None and self.code not in HONEST_ERRORS


class Mix:
    """Request n of the mix: SLOTS[n % 15], the k-th of its kind (k = n // 15)."""

    def __init__(self, client: GraphQLClient, plan: Plan, writes: Writes, products: int) -> None:
        self.client = client
        self.writes = writes
        self.products = products
        self.viewers = plan.customers
        self.categories = CATEGORIES[: min(len(CATEGORIES), products)]

    async def read(
        self, kind: str, document: str, variables: dict[str, Any], token: str | None, field: str
    ) -> tuple[Outcome, Any]:
        sample, body = await self.client.send(document, variables, token, expect=field)
        return Outcome(kind, sample.code, sample.answered, sample.error), body

    async def send(self, n: int) -> Outcome:
        kind, k = SLOTS[n % len(SLOTS)], n // len(SLOTS)
        if kind == "product":
            variables = {"id": product_id(k % self.products + 1)}
            outcome, body = await self.read(kind, PRODUCT_PAGE, variables, None, "product")
            product = field_of(body, "product") or {}
            if outcome.code is None and any(product.get(f) is None for f in PRODUCT_FIELDS):
                return Outcome(kind, "BAD_ANSWER", problem=str(body)[:200])
            return outcome
        if kind == "category":
            variables = {"category": self.categories[k % len(self.categories)]}
            outcome, body = await self.read(
                kind, CATEGORY_PAGE, variables, None, "productsByCategory"
            )
            if outcome.code is None and category_nodes(body) is None:
                return Outcome(kind, "BAD_ANSWER", problem=str(body)[:200])
            return outcome
        if kind == "profile":
            token = self.viewers[k % len(self.viewers)].token
            outcome, _ = await self.read(kind, PROFILE_PAGE, {}, token, "viewer")
            return outcome
        if kind == "placeOrder":
            sample = await self.writes.place_order(k, lines=k % 3 + 1)
        elif kind == "transferPoints":
            sample = await self.writes.transfer(k)
        else:
            sample = await self.writes.move_order()
        return Outcome(kind, sample.code, sample.answered, sample.error)


# --------------------------------------------------------------------------- windows


@dataclass
class Window:
    number: int
    ended_s: float  # from the steady run's start
    requests: int
    requests_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    codes: dict[str, int]
    server_rss_mb: float | None
    engine_rss_mb: float | None
    bench_cpu_percent: float


def window_of(
    number: int,
    seconds: float,
    ended_s: float,
    done: list[Timed[Outcome]],
    not_started: int,
    rss: tuple[float | None, float | None],
    bench_cpu_s: float,
) -> Window:
    ms = [t.ms for t in done]
    codes = Counter(t.result.code for t in done if t.result.code is not None)
    if not_started:
        codes[NOT_STARTED] += not_started
    return Window(
        number=number,
        ended_s=ended_s,
        requests=len(done),
        requests_per_second=len(done) / seconds,
        p50_ms=percentile(ms, 0.50) if ms else None,
        p99_ms=percentile(ms, 0.99) if ms else None,
        errors=sum(codes.values()),
        codes=dict(codes),
        server_rss_mb=rss[0],
        engine_rss_mb=rss[1],
        bench_cpu_percent=100 * bench_cpu_s / seconds,
    )


WINDOWS = Table(
    (
        ("window", 6, ">"),
        ("end s", 6, ">"),
        ("req/s", 7, ">"),
        ("p50 ms", 7, ">"),
        ("p99 ms", 7, ">"),
        ("errors", 6, ">"),
        ("server MB", 9, ">"),
        ("engine MB", 9, ">"),
        ("bench CPU", 9, ">"),
        ("error codes", 30, "<"),
    )
)


def codes_text(codes: dict[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in sorted(codes.items())) or "-"


def print_window(w: Window) -> None:
    WINDOWS.print_row(
        [
            str(w.number),
            f"{w.ended_s:.0f}",
            f"{w.requests_per_second:.1f}",
            fixed(w.p50_ms),
            fixed(w.p99_ms),
            str(w.errors),
            fixed(w.server_rss_mb),
            fixed(w.engine_rss_mb),
            f"{w.bench_cpu_percent:.0f}%",
            codes_text(w.codes),
        ]
    )


async def report_windows(
    run: Run[Outcome], count: int, seconds: float, pids: tuple[int, int | None]
) -> list[Window]:
    """A window's line once it is over: what was answered in it (and what could not start)."""
    windows: list[Window] = []
    answered = not_started = 0
    cpu = time.process_time()
    for number in range(1, count + 1):
        end = run.began + number * seconds
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        # Appended as answered: what is past the index was answered in this window.
        done, answered = run.done[answered:], len(run.done)
        skipped, not_started = len(run.not_started) - not_started, len(run.not_started)
        rss = (rss_mb(pids[0]), rss_mb(pids[1]) if pids[1] else None)
        now = time.process_time()
        window = window_of(number, seconds, number * seconds, done, skipped, rss, now - cpu)
        cpu = now
        print_window(window)
        windows.append(window)
    return windows


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    value: str
    limit: str
    ok: bool | None


def check_targets(args: argparse.Namespace, errors: int, windows: list[Window]) -> list[Target]:
    steady = windows[1:]  # the first window holds the warm-up
    targets = [Target("errors, in total", str(errors), "0", errors == 0)]
    p99s = [w.p99_ms for w in steady if w.p99_ms is not None]
    if p99s and min(p99s) > 0:
        spread = max(p99s) / min(p99s)
        targets.append(
            Target(
                "p99 steadiness from window 2 (largest / smallest)",
                f"{max(p99s):.1f} / {min(p99s):.1f} ms = {spread:.2f}",
                f"<= {args.p99_ratio:g}",
                spread <= args.p99_ratio,
            )
        )
    else:
        targets.append(Target("p99 steadiness from window 2", "-", "needs 2 windows", None))
    first, last = (steady[0], steady[-1]) if len(steady) >= 2 else (None, None)
    if first and last and first.server_rss_mb and last.server_rss_mb:
        growth = last.server_rss_mb / first.server_rss_mb - 1
        targets.append(
            Target(
                f"server RSS growth, window {first.number} to {last.number}",
                f"{first.server_rss_mb:.1f} -> {last.server_rss_mb:.1f} MB = {100 * growth:+.1f}%",
                f"< {100 * RSS_GROWTH_LIMIT:.0f}%",
                growth < RSS_GROWTH_LIMIT,
            )
        )
    else:
        targets.append(Target("server RSS growth from window 2", "-", "needs 3 windows", None))
    return targets


def print_targets(targets: list[Target]) -> None:
    print("\ntargets")
    for t in targets:
        print(f"  {t.name:<48} {t.value:>30}  {t.limit:<16} {verdict(t.ok)}")


# --------------------------------------------------------------------------- main


def tally(done: list[Timed[Outcome]]) -> dict[str, dict[str, int]]:
    """Per kind: answers and errors by code."""
    kinds: dict[str, Counter[str]] = {}
    for t in done:
        counts = kinds.setdefault(t.result.kind, Counter())
        counts["requests"] += 1
        if t.result.code:
            counts[t.result.code] += 1
    return {kind: dict(counts) for kind, counts in sorted(kinds.items())}


async def measure(args: argparse.Namespace, server: Server, stack: Stack) -> dict[str, Any]:
    connections = max(args.probe_connections, args.max_outstanding)
    async with open_session(connections, args.request_timeout) as session:
        client = GraphQLClient(session, server.graphql_url, args.request_timeout)
        plan = await prepare(client, stack.settings.demo_password, args.customers)
        writes = Writes(client, plan, args.request_timeout)
        mix = Mix(client, plan, writes, args.products)
        print(
            f"prepared {len(plan.products)} products without stock, {len(plan.placers)} "
            f"customers placing orders, {len(plan.pairs)} transfer pairs",
            flush=True,
        )
        probe = await closed_loop(args.probe_connections, args.probe_seconds, mix.send)
        good = sum(1 for t in probe.done if t.result.code is None)
        maximum = good / probe.seconds
        rate = args.load * maximum
        not_good = Counter(t.result.code for t in probe.done if t.result.code is not None)
        print(
            f"probe: {args.probe_connections} conns closed-loop for {args.probe_seconds:g} s: "
            f"{maximum:.1f} good answers/s (not good: {codes_text(not_good)}); "
            f"steady rate {args.load:g} x {maximum:.1f} = {rate:.1f} req/s, {args.arrivals}",
            flush=True,
        )
        if rate <= 0:
            raise SystemExit("error: the probe got no good answer")
        seconds = args.minutes * 60
        count = max(1, int(seconds // args.window_seconds))
        print()
        WINDOWS.print_header()
        run: Run[Outcome] = Run(time.perf_counter())
        pids = (server.pid, stack.engine.pid)
        _, windows = await asyncio.gather(
            open_loop(
                rate,
                seconds,
                args.max_outstanding,
                mix.send,
                poisson=args.arrivals == "poisson",
                rng=random.Random(7),
                run=run,
            ),
            report_windows(run, count, args.window_seconds, pids),
        )
    errors = sum(1 for t in run.done if t.result.code is not None) + len(run.not_started)
    wrong = [t.result for t in run.done + probe.done if t.result.wrong]
    return {
        "probe": {
            "connections": args.probe_connections,
            "seconds": probe.seconds,
            "answers": len(probe.done),
            "good_per_second": maximum,
            "by_kind": tally(probe.done),
        },
        "rate": rate,
        "seconds": run.seconds,
        "requests": len(run.done),
        "not_started": len(run.not_started),
        "errors": errors,
        "by_kind": tally(run.done),
        "order_transitions": dict(writes.transitions),
        "windows": windows,
        "wrong_answers": len(wrong),
        "first_wrong": f"{wrong[0].kind}: {wrong[0].problem}" if wrong else None,
        "first_errors": first_errors(run.done + probe.done),
    }


def first_errors(done: list[Timed[Outcome]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for t in done:
        if t.result.code and t.result.code not in found:
            found[t.result.code] = f"{t.result.kind}: {t.result.problem}"
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_files_limit()  # --max-outstanding connections, on both sides
    print("shopgraph steady soak")
    print_machine(machine())
    with ExitStack() as stack:
        seeded_stack = seeded(stack, args, "shopgraph-steady")
        server = serve(stack, args, seeded_stack, log_name="steady")
        measured = run_async(measure(args, server, seeded_stack))
    windows: list[Window] = measured["windows"]
    targets = check_targets(args, measured["errors"], windows)
    print(
        f"\n{measured['requests']} answers in {measured['seconds']:.0f} s at "
        f"{measured['rate']:.1f} req/s asked; {measured['not_started']} not started"
    )
    moved = ", ".join(f"{n} to {s}" for s, n in measured["order_transitions"].items())
    print(f"orders moved: {moved or 'none'}")
    for code, example in measured["first_errors"].items():
        print(f"first {code}: {example}")
    print_targets(targets)
    print(
        "note: this client shares the machine's CPUs with the server and the engine "
        "(bench CPU above; 100% is one core)"
    )
    return {
        "engine": args.engine,
        "endpoint": seeded_stack.engine.endpoint,
        "table": seeded_stack.table,
        "load": args.load,
        "minutes": args.minutes,
        "window_seconds": args.window_seconds,
        "max_outstanding": args.max_outstanding,
        "arrivals": args.arrivals,
        "server_env": dict(args.server_env),
        "seed": seeded_stack.loaded.as_dict(),
        **machine(),
        **{k: v for k, v in measured.items() if k != "windows"},
        "windows": [asdict(w) for w in windows],
        "targets": [asdict(t) for t in targets],
    }


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    if summary["first_wrong"]:
        print(f"wrong answer: {summary['first_wrong']}", file=sys.stderr)
    return 1 if summary["wrong_answers"] else 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse_args, run, finish, stopped="the server and the engine")


if __name__ == "__main__":
    sys.exit(main())
