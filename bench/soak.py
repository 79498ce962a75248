"""shopgraph write soak: latency and memory of `shopgraph serve` under a long mixed write load.

Starts `python -m shopgraph serve --seed-demo` on a free 127.0.0.1 port, with no
AWS_ENDPOINT_URL* in its environment, so that the server starts its embedded
engine (DynamoDB Local by default, moto's server with `--engine moto`) as its
child process and seeds the default demo data into it. It then sends `--writes`
mutations, `--concurrency` at a time, about a third each of:

- placeOrder with 3 lines, on products this run creates (no stock, so none sells out);
- transferPoints of 1 point, back and forth within pairs of customers who have points;
- updateOrderStatus (as admin), each moving an order a placeOrder of this run
  created one step along PENDING -> PAID -> SHIPPED -> COMPLETED.

Every `--report-every` writes it prints the RSS of the server and of the engine
(VmRSS from /proc) and p50 / p99 per mutation over that window; at the end a
table per mutation over the whole run and the RSS growth between the first and
the last report, against the targets (p50 under 25 ms, RSS growth under 10 %).
The exit status is 1 when any request failed, else 0, whatever the figures.
Everything it starts it stops again by PID, on failure and on Ctrl-C / SIGTERM too.

    .venv/bin/python -m bench.soak
    .venv/bin/python -m bench.soak --engine moto --writes 300 --report-every 100
    .venv/bin/python -m bench.soak --writes 5000 --concurrency 16 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cli import positive_float, positive_int, run_bench
from bench.load import GraphQLClient, open_session
from bench.proc import (
    CLOCK_TICKS_PER_SECOND,
    Process,
    children,
    cpu_ticks,
    mem_available_mb,
    rss_mb,
)
from bench.report import fixed, machine, percentile, print_machine
from bench.server import Server, embedded_env, read_log, start_serve, stop_process, wait_ready
from bench.writes import MUTATIONS, Plan, Sample, Writes, prepare
from shopgraph.settings import EMBEDDED_ENGINES

# The demo data `serve --seed-demo` loads with its default sizes.
DEMO_CUSTOMERS = 50
DEFAULT_DEMO_PASSWORD = "shopgraph-demo"

# Targets the summary compares against.
P50_TARGET_MS = 25.0
RSS_GROWTH_TARGET_PERCENT = 10.0

GUARD_INTERVAL_S = 0.5
MIN_AVAILABLE_MB = 1024  # the machine's MemAvailable below this stops the stream


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--engine",
        choices=EMBEDDED_ENGINES,
        default=None,
        help="embedded engine passed to serve (default: none passed, the server's default)",
    )
    parser.add_argument("--writes", type=positive_int, default=2000, help="mutations to send")
    parser.add_argument("--concurrency", type=positive_int, default=8, help="requests at once")
    parser.add_argument("--report-every", type=positive_int, default=500, help="writes per line")
    parser.add_argument(
        "--max-seconds",
        type=positive_float,
        default=900.0,
        help="overall time budget; past it no more writes are sent (default 900)",
    )
    parser.add_argument(
        "--request-timeout", type=positive_float, default=30.0, help="per request, s"
    )
    parser.add_argument(
        "--max-rss-mb",
        type=positive_int,
        default=8192,
        help="stop at once when the server or the engine grows past this RSS (default 8192); "
        f"so does the machine's MemAvailable falling under {MIN_AVAILABLE_MB} MB",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- the server


def announced_engine_pid(log_path: Path) -> int | None:
    """The PID in serve's 'started the embedded engine, ... (PID n)' line, if any."""
    match = re.search(r"started the embedded engine.*?PID (\d+)", read_log(log_path))
    return int(match.group(1)) if match else None


@dataclass
class EmbeddedServer:
    """serve with the engine it started itself, its child: measured, and stopped if left."""

    server: Server
    # Every child seen while it started: all are stopped at the end if still there.
    seen: dict[int, Process] = field(default_factory=dict)
    engine: Process | None = None

    def note_children(self) -> None:
        for child in children(self.server.pid):
            self.seen.setdefault(child.pid, child)

    def find_engine(self) -> Process | None:
        """The server's child process: the one the server announced when it has several."""
        current = children(self.server.pid)
        if len(current) > 1:
            announced = announced_engine_pid(self.server.log_path)
            current = [c for c in current if c.pid == announced] or current
        return current[0] if current else None

    def stop(self) -> None:
        self.note_children()
        stop_process(self.server.process)
        for child in self.seen.values():
            child.stop()


# --------------------------------------------------------------------------- the soak


@dataclass
class Report:
    writes: int
    elapsed_s: float
    server_rss_mb: float | None
    engine_rss_mb: float | None
    # CPU per write over the window (utime+stime): what bounds the writes/s.
    server_cpu_ms: float | None
    engine_cpu_ms: float | None
    window: dict[str, dict[str, float | int]]


def latency_stats(samples: list[Sample]) -> dict[str, dict[str, float | int]]:
    stats: dict[str, dict[str, float | int]] = {}
    for mutation in MUTATIONS:
        ms = [s.ms for s in samples if s.mutation == mutation]
        errors = sum(1 for s in samples if s.mutation == mutation and s.error)
        stats[mutation] = {
            "count": len(ms),
            "errors": errors,
            "p50_ms": round(percentile(ms, 0.50), 2),
            "p99_ms": round(percentile(ms, 0.99), 2),
        }
    return stats


class Soak:
    """The mixed write stream: write i is placeOrder, transferPoints or
    updateOrderStatus by i % 3, so every prefix places at least as many orders
    as it moves, and each updateOrderStatus takes an order this run placed."""

    def __init__(
        self, client: GraphQLClient, plan: Plan, args: argparse.Namespace, server: EmbeddedServer
    ) -> None:
        self.writes = Writes(client, plan, args.request_timeout)
        self.args = args
        self.server = server
        self.indices: Iterator[int] = iter(range(args.writes))
        self.samples: list[Sample] = []
        self.window: list[Sample] = []
        self.reports: list[Report] = []
        self.first_errors: dict[str, str] = {}
        self.started = time.monotonic()
        self.deadline = 0.0
        self.stopped_by: str | None = None
        self.begun = 0  # writes sent; more than recorded when the memory guard cut them off
        self.workers: list[asyncio.Task[None]] = []
        self._ticks: dict[str, int] = self._ticks_now()

    def _ticks_now(self) -> dict[str, int]:
        """utime+stime of the server and the engine, in clock ticks."""
        engine = self.server.engine
        ticks = {"server": cpu_ticks(self.server.server.pid)}
        if engine:
            ticks["engine"] = cpu_ticks(engine.pid)
        return ticks

    def cpu_ms_per_write(self, writes: int) -> dict[str, float]:
        """Each process's CPU ms per write since the last report."""
        ticks, before = self._ticks_now(), self._ticks
        self._ticks = ticks
        return {
            name: (ticks[name] - before.get(name, 0)) / CLOCK_TICKS_PER_SECOND * 1000 / writes
            for name in ticks
        }

    async def write(self, i: int) -> Sample:
        kind, k = i % 3, i // 3
        if kind == 0:
            return await self.writes.place_order(k)
        if kind == 1:
            return await self.writes.transfer(k)
        return await self.writes.move_order()

    # ---- the stream

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.window.append(sample)
        if sample.error and sample.mutation not in self.first_errors:
            self.first_errors[sample.mutation] = sample.error
            print(f"first error of {sample.mutation}: {sample.error}", flush=True)
        if len(self.samples) % self.args.report_every == 0:
            self.report()

    def report(self) -> None:
        engine = self.server.engine
        cpu = self.cpu_ms_per_write(len(self.window))
        report = Report(
            writes=len(self.samples),
            elapsed_s=round(time.monotonic() - self.started, 2),
            server_rss_mb=rss_mb(self.server.server.pid),
            engine_rss_mb=rss_mb(engine.pid) if engine else None,
            server_cpu_ms=round(cpu["server"], 2),
            engine_cpu_ms=round(cpu["engine"], 2) if "engine" in cpu else None,
            window=latency_stats(self.window),
        )
        self.window = []
        self.reports.append(report)
        print_report(report)

    async def worker(self) -> None:
        for i in self.indices:  # shared: each write goes to one worker
            if time.monotonic() > self.deadline:
                self.stopped_by = self.stopped_by or f"--max-seconds {self.args.max_seconds:.0f}"
                return
            self.begun += 1
            self.record(await self.write(i))

    def memory_trouble(self) -> str | None:
        """Why to stop at once: a process above --max-rss-mb, or the machine short of memory."""
        processes = [("server", self.server.server.pid)]
        if self.server.engine:
            processes.append(("engine", self.server.engine.pid))
        for name, pid in processes:
            rss = rss_mb(pid)
            if rss is not None and rss > self.args.max_rss_mb:
                return f"{name} RSS {rss:.0f} MB is above --max-rss-mb {self.args.max_rss_mb}"
        available = mem_available_mb()
        if available is not None and available < MIN_AVAILABLE_MB:
            return f"only {available:.0f} MB of memory left on this machine"
        return None

    async def guard(self) -> None:
        """Cancels the writes in flight when memory runs out, before the machine does."""
        while True:  # polls /proc: there is no event to wait for
            if (reason := self.memory_trouble()) is not None:
                break
            await asyncio.sleep(GUARD_INTERVAL_S)
        self.stopped_by = reason
        print(f"stopping: {reason}; abandoning the writes in flight", flush=True)
        for task in self.workers:
            task.cancel()

    async def run(self, deadline: float) -> None:
        self.deadline = self.writes.deadline = deadline
        self.started = time.monotonic()
        guard = asyncio.create_task(self.guard())
        try:
            async with asyncio.TaskGroup() as group:
                self.workers = [
                    group.create_task(self.worker()) for _ in range(self.args.concurrency)
                ]
        finally:
            guard.cancel()
        if self.window:  # cut short, or --writes not a multiple of --report-every
            self.report()


# --------------------------------------------------------------------------- output


def print_report(report: Report) -> None:
    latencies = "  ".join(
        f"{name} {stats['p50_ms']:.1f}/{stats['p99_ms']:.1f}"
        for name, stats in report.window.items()
        if stats["count"]
    )
    print(
        f"writes {report.writes:>6}  {report.elapsed_s:>7.1f} s  "
        f"RSS server {fixed(report.server_rss_mb):>7} MB  "
        f"engine {fixed(report.engine_rss_mb):>7} MB  "
        f"CPU/write server {fixed(report.server_cpu_ms)} ms  "
        f"engine {fixed(report.engine_cpu_ms)} ms  "
        f"p50/p99 ms: {latencies}",
        flush=True,
    )


def growth(first: float | None, last: float | None) -> float | None:
    if first is None or last is None or first <= 0:
        return None
    return (last - first) / first * 100


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def rss_growth(reports: list[Report]) -> dict[str, dict[str, Any]]:
    """Per process: RSS at the first and at the last report, growth %, target met."""
    if len(reports) < 2:
        return {}
    first, last = reports[0], reports[-1]
    result: dict[str, dict[str, Any]] = {}
    for name in ("server", "engine"):
        before = getattr(first, f"{name}_rss_mb")
        after = getattr(last, f"{name}_rss_mb")
        percent = growth(before, after)
        result[name] = {
            "from_writes": first.writes,
            "to_writes": last.writes,
            "from_mb": None if before is None else round(before, 1),
            "to_mb": None if after is None else round(after, 1),
            "growth_percent": None if percent is None else round(percent, 2),
            "pass": None if percent is None else percent < RSS_GROWTH_TARGET_PERCENT,
        }
    return result


def print_latency_table(stats: dict[str, dict[str, Any]]) -> None:
    print(f"{'mutation':<18} {'count':>6} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8}  target")
    print("-" * 66)
    for name, row in stats.items():
        ok = row["pass"]
        print(
            f"{name:<18} {row['count']:>6} {row['errors']:>6} {row['p50_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f}  p50 < {P50_TARGET_MS:.0f} ms {verdict(ok)}"
        )


def print_rss_table(rss: dict[str, dict[str, Any]]) -> None:
    if not rss:
        print("RSS growth: n/a (fewer than two reports)")
        return
    any_row = next(iter(rss.values()))
    before, after = f"at {any_row['from_writes']}", f"at {any_row['to_writes']}"
    print()
    print(f"{'RSS':<8} {before:>10} {after:>10} {'growth':>8}  target")
    print("-" * 60)
    for name, row in rss.items():
        percent = row["growth_percent"]
        shown = "-" if percent is None else f"{percent:+.1f}%"
        print(
            f"{name:<8} {fixed(row['from_mb']) + ' MB':>10} {fixed(row['to_mb']) + ' MB':>10} "
            f"{shown:>8}  < {RSS_GROWTH_TARGET_PERCENT:.0f}% {verdict(row['pass'])}"
        )


def summarize(soak: Soak, wall_s: float) -> dict[str, Any]:
    stats: dict[str, dict[str, Any]] = dict(latency_stats(soak.samples))
    for row in stats.values():
        row["pass"] = row["p50_ms"] < P50_TARGET_MS if row["count"] else None
    return {
        "writes_sent": len(soak.samples),
        "writes_asked": soak.args.writes,
        "writes_abandoned": soak.begun - len(soak.samples),
        "stopped_by": soak.stopped_by,
        "seconds": round(wall_s, 2),
        "writes_per_second": round(len(soak.samples) / wall_s, 1) if wall_s > 0 else 0.0,
        "errors": sum(1 for s in soak.samples if s.error),
        "first_errors": dict(soak.first_errors),
        "order_transitions": dict(soak.writes.transitions),
        "mutations": stats,
        "rss": rss_growth(soak.reports),
        "reports": [asdict(report) for report in soak.reports],
    }


def print_summary(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print()
    print(
        f"{summary['writes_sent']} of {summary['writes_asked']} writes in "
        f"{summary['seconds']:.1f} s ({summary['writes_per_second']:.1f}/s), concurrency "
        f"{args.concurrency}, {summary['errors']} failed"
    )
    if summary["stopped_by"]:
        abandoned = summary["writes_abandoned"]
        cut = f", {abandoned} in flight abandoned (not counted)" if abandoned else ""
        print(f"note: stopped sending early: {summary['stopped_by']}{cut}")
    moved = ", ".join(f"{n} to {s}" for s, n in summary["order_transitions"].items())
    print(f"orders moved: {moved or 'none'}")
    print()
    print_latency_table(summary["mutations"])
    print_rss_table(summary["rss"])
    for mutation, error in summary["first_errors"].items():
        print(f"first error of {mutation}: {error}")


# --------------------------------------------------------------------------- main


def open_server(engine: str | None) -> EmbeddedServer:
    """Starts serve on a free port; the caller stops it (also when this raises)."""
    arguments = ["--seed-demo"] + (["--engine", engine] if engine is not None else [])
    return EmbeddedServer(start_serve(arguments, embedded_env(), log_name="soak"))


def describe_start(embedded: EmbeddedServer, seconds: float) -> None:
    server = embedded.server
    announce = next(
        (line for line in read_log(server.log_path).splitlines() if "embedded engine" in line),
        "(no embedded engine announced)",
    )
    engine = embedded.engine
    print(f"server PID {server.pid} ready at {server.base_url} in {seconds:.1f} s")
    print(f"  {announce}")
    print(f"  engine PID {engine.pid if engine else '-'}; server log {server.log_path}", flush=True)


async def soak(args: argparse.Namespace, server: EmbeddedServer, deadline: float) -> Soak:
    password = os.environ.get("SHOPGRAPH_DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    async with open_session(args.concurrency, args.request_timeout) as session:
        client = GraphQLClient(session, server.server.graphql_url, args.request_timeout)
        plan = await prepare(client, password, DEMO_CUSTOMERS)
        print(
            f"prepared {len(plan.products)} products without stock, {len(plan.placers)} "
            f"customers placing orders, {len(plan.pairs)} transfer pairs\n",
            flush=True,
        )
        runner = Soak(client, plan, args, server)
        await runner.run(deadline)
        return runner


def print_header(args: argparse.Namespace) -> None:
    print("shopgraph write soak")
    print(f"  engine   {args.engine or 'server default'} (embedded, started by serve)")
    print(
        f"  load     {args.writes} writes, concurrency {args.concurrency}, report every "
        f"{args.report_every}, budget {args.max_seconds:.0f} s"
    )
    print_machine(machine())


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    deadline = began + args.max_seconds
    print_header(args)
    server = open_server(args.engine)
    try:
        wait_ready(server.server, deadline - time.monotonic(), on_poll=server.note_children)
        server.engine = server.find_engine()
        describe_start(server, time.monotonic() - began)
        runner = asyncio.run(soak(args, server, deadline))
        summary = summarize(runner, time.monotonic() - runner.started)
    finally:
        server.stop()
    summary["engine"] = args.engine or "default"
    return summary


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    print_summary(summary, args)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 1 if summary["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse_args, run, finish, stopped="the server and its engine")


if __name__ == "__main__":
    sys.exit(main())
