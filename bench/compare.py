"""shopgraph against the Node reference peer: the same queries, table, engine and load.

For each `--scale` in turn, starts DynamoDB Local afresh through shopgraph's
engine launcher and seeds a table with shopgraph's own seed. It installs the peer
(apollo-ddb) into the project's cache, starts it and `shopgraph serve` on that
table, then runs the peer's three queries (product, category, profile page) with
wrk against both, alternately, for a few rounds at each concurrency. Every
answer is checked; a bad one ends the run with status 1. It prints, per query
and concurrency, the medians over the rounds of req/s, p50, p99 and the CPU per
request of each server and of the engine, the DynamoDB calls per request, and
shopgraph/peer ratios. Everything it starts it stops by PID, on failure and on
Ctrl-C / SIGTERM too.

    .venv/bin/python -m bench.compare
    .venv/bin/python -m bench.compare --scale 1000,10000 --duration 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import peer, wrk
from bench.cli import (
    exit_with,
    non_negative_int,
    positive_float,
    positive_int,
    positive_int_list,
    run_bench,
)
from bench.data import Loaded, drop_table, load_dataset, new_table_name
from bench.engines import (
    Engine,
    add_engine_arguments,
    check_engine_arguments,
    open_engine,
    use_local_credentials,
)
from bench.load import GraphQLClient, open_session
from bench.proc import cpu_seconds
from bench.report import Table, machine, median, number, print_json, print_machine, ratio
from bench.server import Server, endpoint_env, served
from shopgraph.data.seed import CATEGORIES, SeedOptions, customer_email
from shopgraph.settings import Settings

QUERIES = ("product", "category", "profile")
# The field a good answer of each query holds, as the peer's own wrk scripts check.
EXPECT = {"product": "viewCount", "category": "price", "profile": "quantity"}
# The profile page lists 20 orders: the viewer needs at least that many.
PROFILE_ORDERS = 20
SIDES = ("peer", "shopgraph")


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--peer-dir",
        type=Path,
        default=peer.DEFAULT_PEER_DIR,
        help=f"the peer's folder, read only (default: {peer.DEFAULT_PEER_DIR})",
    )
    # DynamoDB Local by default: moto serves one call at a time and would be the bottleneck.
    add_engine_arguments(parser, default="dynamodb-local")
    parser.add_argument(
        "--scale",
        type=positive_int_list,
        default=[1000],
        help="orders in the seed, one table per size in turn, e.g. 1000,10000,100000",
    )
    parser.add_argument(
        "--orders-per-customer",
        type=positive_int,
        default=PROFILE_ORDERS,
        help=f"at least {PROFILE_ORDERS}: the profile page's viewer needs them",
    )
    parser.add_argument("--products", type=positive_int, default=200)
    parser.add_argument(
        "--queries",
        type=query_list,
        default=list(QUERIES),
        help="comma list of " + ",".join(QUERIES),
    )
    parser.add_argument(
        "--concurrency", type=positive_int_list, default=[1, 16], help="connections, e.g. 1,16"
    )
    parser.add_argument("--rounds", type=positive_int, default=3, help="peer, shopgraph each")
    parser.add_argument("--duration", type=positive_float, default=10.0, help="s per run")
    parser.add_argument(
        "--warmup", type=non_negative_int, default=2, help="s per query and server, 0: none"
    )
    parser.add_argument("--request-timeout", type=positive_float, default=10.0, help="s")
    parser.add_argument("--startup-timeout", type=positive_float, default=60.0, help="s")
    parser.add_argument(
        "--stream-consumer",
        action="store_true",
        help="leave serve's stream consumer on (default off: the peer has none, and its "
        "polling would add to the engine's CPU in the peer's runs too)",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = parser.parse_args(argv)
    check_engine_arguments(parser, args)
    if args.orders_per_customer < PROFILE_ORDERS:
        parser.error(f"--orders-per-customer must be at least {PROFILE_ORDERS}")
    return args


def query_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUERIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(QUERIES)}, got {text!r}")
    return names


# --------------------------------------------------------------------------- the two servers


@dataclass(frozen=True)
class Target:
    """One side of the comparison: where it answers and which processes do its work."""

    side: str
    url: str
    pid: int


def sizes(args: argparse.Namespace, orders: int) -> dict[str, int]:
    customers = max(1, orders // args.orders_per_customer)
    return {
        "customers": customers,
        "products": args.products,
        "orders_per_customer": args.orders_per_customer,
        "orders": customers * args.orders_per_customer,
    }


def read_queries(args: argparse.Namespace) -> dict[str, str]:
    """The peer's own query texts, from its folder, before anything starts."""
    documents = {}
    for name in args.queries:
        path = args.peer_dir / "bench" / "queries" / f"{name}.graphql"
        if not path.is_file():
            exit_with(2, f"error: the peer has no {path}; is --peer-dir an apollo-ddb checkout?")
        documents[name] = path.read_text().strip()
    return documents


def requests_for(documents: dict[str, str], token: str) -> list[wrk.Request]:
    """Each query with ids the seed made; the profile page with the viewer's token."""
    variables: dict[str, dict[str, Any]] = {
        "product": {"id": "p00001"},
        "category": {"category": CATEGORIES[0]},
        "profile": {},
    }
    return [
        wrk.Request(
            name, document, variables[name], EXPECT[name], token if name == "profile" else None
        )
        for name, document in documents.items()
    ]


async def log_in(url: str, email: str, password: str) -> str:
    async with open_session(1, 30.0) as session:
        return await GraphQLClient(session, url).log_in(email, password)


def contains_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(contains_key(item, key) for item in value.values())
    if isinstance(value, list):
        return any(contains_key(item, key) for item in value)
    return False


@dataclass
class Check:
    """One request of a kind on one side, before the runs: good, and what it cost."""

    side: str
    calls: dict[str, int] | None
    data: Any
    problem: str | None


async def check(target: Target, request: wrk.Request) -> Check:
    async with open_session(1, 30.0) as session:
        client = GraphQLClient(session, target.url)
        sample, body = await client.send(request.document, request.variables, request.token)
    data = body.get("data") if isinstance(body, dict) else None
    problem = sample.error
    if problem is None and not contains_key(data, request.expect):
        problem = f"no {request.expect} in the answer: {json.dumps(body)[:300]}"
    if problem is None and request.name == "profile":
        nodes = (((data or {}).get("viewer") or {}).get("orders") or {}).get("nodes") or []
        if len(nodes) < PROFILE_ORDERS:
            problem = f"the viewer has {len(nodes)} orders, not {PROFILE_ORDERS}"
    return Check(target.side, sample.calls, data, problem)


def first_difference(peer_data: Any, ours: Any, path: str = "data") -> str | None:
    """Where two answers first differ, as path: peer value / shopgraph value; None if equal."""
    if isinstance(peer_data, dict) and isinstance(ours, dict):
        for key in dict.fromkeys([*peer_data, *ours]):
            if found := first_difference(peer_data.get(key), ours.get(key), f"{path}.{key}"):
                return found
        return None
    if isinstance(peer_data, list) and isinstance(ours, list):
        if len(peer_data) != len(ours):
            return f"{path}: {len(peer_data)} entries / {len(ours)}"
        for i, (a, b) in enumerate(zip(peer_data, ours, strict=True)):
            if found := first_difference(a, b, f"{path}[{i}]"):
                return found
        return None
    if peer_data != ours:
        return f"{path}: peer {json.dumps(peer_data)[:80]} / shopgraph {json.dumps(ours)[:80]}"
    return None


def calls_text(calls: dict[str, int] | None) -> str:
    if not calls:
        return "-"
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    scale: int
    query: str
    concurrency: int
    side: str
    round: int
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float | None
    engine_cpu_us: float | None


def per_request_us(seconds: float, requests: int) -> float | None:
    return seconds * 1e6 / requests if requests else None


def measure(
    target: Target,
    engine: Engine,
    script: Path,
    concurrency: int,
    args: argparse.Namespace,
    label: tuple[int, str, int],
) -> Run:
    """One wrk run, with the CPU the server and the engine spent in it (from /proc)."""
    scale, query, round_ = label
    engine_pids = [engine.pid] if engine.pid else []
    server_before, engine_before = cpu_seconds([target.pid]), cpu_seconds(engine_pids)
    result = wrk.run(script, target.url, concurrency, args.duration, args.request_timeout)
    server_after, engine_after = cpu_seconds([target.pid]), cpu_seconds(engine_pids)
    if problem := result.problem():
        exit_with(1, f"error: {query} at concurrency {concurrency} on {target.side}: {problem}")
    if result.requests == 0:
        exit_with(1, f"error: {query} at concurrency {concurrency} on {target.side}: no answer")
    return Run(
        scale=scale,
        query=query,
        concurrency=concurrency,
        side=target.side,
        round=round_,
        requests=result.requests,
        requests_per_second=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        server_cpu_us=per_request_us(server_after - server_before, result.requests),
        engine_cpu_us=(
            per_request_us(engine_after - engine_before, result.requests) if engine_pids else None
        ),
    )


def print_run(run: Run) -> None:
    print(
        f"  {run.query:<9} c{run.concurrency:<3} {run.side:<9} round {run.round}: "
        f"{run.requests_per_second:8.1f} req/s  p50 {run.p50_ms:8.2f} ms  "
        f"p99 {run.p99_ms:8.2f} ms  cpu/req server {number(run.server_cpu_us, 0):>6} us  "
        f"engine {number(run.engine_cpu_us, 0):>6} us",
        flush=True,
    )


def compare_query(
    request: wrk.Request,
    targets: list[Target],
    engine: Engine,
    args: argparse.Namespace,
    scale: int,
    folder: Path,
) -> tuple[dict[str, Check], list[Run]]:
    print(f"== {request.name}: {request.document}", flush=True)
    checks = {t.side: asyncio.run(check(t, request)) for t in targets}
    for c in checks.values():
        verdict = "ok" if c.problem is None else "BAD"
        print(f"  check {c.side:<9}: {verdict} calls={calls_text(c.calls)}")
        if c.problem:
            exit_with(1, f"error: {request.name} on {c.side}: {c.problem}")
    if difference := first_difference(checks["peer"].data, checks["shopgraph"].data):
        print(f"  note: the answers differ (not an error): {difference}")
    script = wrk.write_script(request, folder)
    if args.warmup:
        for target in targets:
            wrk.run(script, target.url, max(args.concurrency), args.warmup, args.request_timeout)
    runs: list[Run] = []
    for concurrency in args.concurrency:
        for round_ in range(1, args.rounds + 1):
            for target in targets:  # alternately, so drift hits both alike
                run = measure(
                    target, engine, script, concurrency, args, (scale, request.name, round_)
                )
                print_run(run)
                runs.append(run)
    return checks, runs


# --------------------------------------------------------------------------- figures

FIGURES = ("requests_per_second", "p50_ms", "p99_ms", "server_cpu_us", "engine_cpu_us")


def medians(runs: list[Run]) -> list[dict[str, Any]]:
    """Per query, concurrency and side: the median of each figure over the rounds."""
    groups: dict[tuple[str, int], dict[str, list[Run]]] = {}
    for r in runs:
        groups.setdefault((r.query, r.concurrency), {}).setdefault(r.side, []).append(r)
    rows: list[dict[str, Any]] = []
    for (query, concurrency), by_side in groups.items():
        m = {
            side: {f: median([getattr(r, f) for r in by_side.get(side, [])]) for f in FIGURES}
            for side in SIDES
        }
        rows.append(
            {
                "query": query,
                "concurrency": concurrency,
                "rounds": len(by_side.get("peer", [])),
                **m,
                # shopgraph / peer: above 1 favours shopgraph for req/s, the peer for the others.
                "ratio": {f: ratio(m["shopgraph"][f], m["peer"][f]) for f in FIGURES},
            }
        )
    return rows


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


TABLE = Table(
    (
        ("query", 9, "<"),
        ("conc", 4, ">"),
        ("server", 15, "<"),
        ("req/s", 8, ">"),
        ("p50 ms", 8, ">"),
        ("p99 ms", 8, ">"),
        ("cpu us/req", 10, ">"),
        ("engine us/req", 13, ">"),
        ("DynamoDB calls per request", 36, "<"),
    )
)


def print_figures(rows: list[dict[str, Any]], calls: dict[str, dict[str, Any]]) -> None:
    TABLE.print_header()
    for row in rows:
        for side in SIDES:
            m = row[side]
            TABLE.print_row(
                [
                    row["query"],
                    str(row["concurrency"]),
                    side,
                    f"{m['requests_per_second']:.1f}",
                    f"{m['p50_ms']:.2f}",
                    f"{m['p99_ms']:.2f}",
                    number(m["server_cpu_us"], 0),
                    number(m["engine_cpu_us"], 0),
                    calls_text(calls[row["query"]][side]),
                ]
            )
        ratios = [ratio_text(row["ratio"][f]) for f in FIGURES]
        TABLE.print_row([row["query"], str(row["concurrency"]), "shopgraph/peer", *ratios, ""])


# --------------------------------------------------------------------------- main


def compare_scale(
    args: argparse.Namespace,
    engine: Engine,
    install_dir: Path,
    documents: dict[str, str],
    orders: int,
) -> dict[str, Any]:
    """One seed size: a fresh table, both servers on it, every query; all stopped after."""
    size = sizes(args, orders)
    table = new_table_name("shopgraph-compare")
    env = endpoint_env(table)
    if not args.stream_consumer:
        env["SHOPGRAPH_STREAM_CONSUMER"] = "off"
    settings = Settings.from_env(env)
    print(
        f"\n=== scale {size['orders']} orders: {size['customers']} customers x "
        f"{size['orders_per_customer']} orders, {size['products']} products (table {table})"
    )
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="shopgraph-compare-") as tmp:
        if engine.pid is None:
            # A given endpoint outlives the run; a launched engine goes with its data.
            stack.callback(drop_table, settings, engine.endpoint)
        options = SeedOptions.for_settings(
            settings,
            customers=size["customers"],
            products=size["products"],
            orders_per_customer=size["orders_per_customer"],
        )
        loaded: Loaded = load_dataset(settings, engine.endpoint, options)
        server: Server = stack.enter_context(
            served(engine.endpoint, env, args.startup_timeout, log_name="compare")
        )
        node = peer.start(install_dir, table, engine.endpoint, args.startup_timeout)
        stack.callback(node.stop)
        print(f"peer PID {node.pid} ready at {node.url} (log {node.log_path})")
        token = asyncio.run(log_in(server.graphql_url, customer_email(1), settings.demo_password))
        print(f"profile viewer: customer1 ({size['orders_per_customer']} orders), logged in\n")
        targets = [
            Target("peer", node.url, node.pid),
            Target("shopgraph", server.graphql_url, server.pid),
        ]
        calls: dict[str, dict[str, Any]] = {}
        answers: dict[str, dict[str, Any]] = {}
        runs: list[Run] = []
        for request in requests_for(documents, token):
            checks, query_runs = compare_query(request, targets, engine, args, orders, Path(tmp))
            calls[request.name] = {side: c.calls for side, c in checks.items()}
            answers[request.name] = {side: c.data for side, c in checks.items()}
            runs += query_runs
    rows = medians(runs)
    print(
        f"\nscale {size['orders']} orders: seeded {loaded.items} items in {loaded.seconds:.1f} s; "
        f"medians over {args.rounds} rounds (ratio shopgraph/peer: req/s above 1 favours "
        "shopgraph, the others below 1)"
    )
    print_figures(rows, calls)
    return {
        **size,
        "table": table,
        "seed": loaded.as_dict(),
        "calls": calls,
        # None where both servers gave the same data, else where they first differ.
        "answer_difference": {
            q: first_difference(a["peer"], a["shopgraph"]) for q, a in answers.items()
        },
        "medians": rows,
        "runs": [asdict(run) for run in runs],
    }


# The growth across seed sizes a flat access pattern may show in p50.
FLAT_P50_SPREAD = 0.20


def across_sizes(scales: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per query, concurrency and side: the calls and p50 at each size, whether the
    calls are the same at every size, and the p50 spread (largest / smallest - 1)."""
    rows: list[dict[str, Any]] = []
    for first in scales[0]["medians"]:
        query, concurrency = first["query"], first["concurrency"]
        for side in SIDES:
            p50s, calls = [], []
            for size in scales:
                row = next(
                    r
                    for r in size["medians"]
                    if r["query"] == query and r["concurrency"] == concurrency
                )
                p50s.append(row[side]["p50_ms"])
                calls.append(size["calls"][query][side])
            spread = max(p50s) / min(p50s) - 1 if all(p50s) else None
            rows.append(
                {
                    "query": query,
                    "concurrency": concurrency,
                    "side": side,
                    "orders": [size["orders"] for size in scales],
                    "p50_ms": p50s,
                    "p50_spread": spread,
                    "flat": spread is not None and spread <= FLAT_P50_SPREAD,
                    "same_calls": all(c == calls[0] for c in calls),
                    "calls": calls[0],
                }
            )
    return rows


def print_across_sizes(rows: list[dict[str, Any]]) -> None:
    sizes_text = " / ".join(str(o) for o in rows[0]["orders"])
    print(f"\nacross sizes ({sizes_text} orders): p50 ms at each, spread, calls")
    for row in rows:
        p50s = " / ".join(number(v, 2) for v in row["p50_ms"])
        spread = "-" if row["p50_spread"] is None else f"{100 * row['p50_spread']:.0f}%"
        verdict = "flat" if row["flat"] else f"over {FLAT_P50_SPREAD:.0%}"
        calls = "same calls" if row["same_calls"] else "CALLS DIFFER"
        print(
            f"  {row['query']:<9} c{row['concurrency']:<3} {row['side']:<9} {p50s}  "
            f"spread {spread} ({verdict}), {calls}: {calls_text(row['calls'])}"
        )


def print_header(info: dict[str, Any]) -> None:
    print("shopgraph vs the reference peer (apollo-ddb)")
    if info["engine"] == "endpoint":
        print(f"  engine   the endpoint {info['endpoint']}, one table per scale")
    else:
        print(f"  engine   {info['engine']}, started afresh for each scale")
    print(f"  peer     {info['peer_dir']}, installed in {info['peer_install']}")
    print(
        f"  load     wrk, 1 thread; {info['duration']:.0f} s per run, {info['rounds']} rounds "
        f"peer/shopgraph alternately, concurrency {','.join(map(str, info['concurrency']))}, "
        f"warm-up {info['warmup']} s; serve's stream consumer "
        f"{'on' if info['stream_consumer'] else 'off'}"
    )
    print(f"  scale    {', '.join(map(str, info['scale']))} orders")
    print_machine(info)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if wrk.available() is None:
        exit_with(2, "error: wrk is not on the PATH (Debian: apt-get install wrk)")
    install_dir = peer.install(args.peer_dir.resolve())
    documents = read_queries(args)
    use_local_credentials(args.engine)
    info = {
        "engine": args.engine,
        "endpoint": args.endpoint_url,
        "peer_dir": str(args.peer_dir.resolve()),
        "peer_install": str(install_dir),
        "load_generator": "wrk -t1",
        "duration": args.duration,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "stream_consumer": args.stream_consumer,
        "scale": args.scale,
        **machine(),
    }
    print_header(info)
    info["scales"] = []
    for orders in args.scale:
        # A launched engine is new for each size: a size's figures are then its
        # own, not those of an engine still holding (or deleting) the last one.
        with open_engine(args.engine, args.endpoint_url) as engine:
            scale = compare_scale(args, engine, install_dir, documents, orders)
        info["scales"].append({**scale, "endpoint": engine.endpoint, "engine_pid": engine.pid})
    if len(info["scales"]) > 1:
        info["across_sizes"] = across_sizes(info["scales"])
        print_across_sizes(info["across_sizes"])
    return info


def finish(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse_args, run, finish, stopped="the servers, the peer and the engine")


if __name__ == "__main__":
    sys.exit(main())
