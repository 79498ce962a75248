"""`shopgraph serve | create-table | seed | stream-worker | engine | export-schema`."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web

from shopgraph import logs
from shopgraph.data import entities
from shopgraph.data.dynamo import UNREACHABLE_ERRORS, Dynamo, open_client, table_admin_settings
from shopgraph.data.seed import SeedOptions, customer_email, seed
from shopgraph.data.table import TableShapeError, ensure_table
from shopgraph.engine import (
    EMBEDDED_ENGINES,
    EngineProcess,
    EngineStartError,
    dynamodb_local,
    start_embedded,
)
from shopgraph.errors import Unavailable
from shopgraph.schema.trusted_documents import ManifestError, TrustedDocuments
from shopgraph.server.readiness import Prepare
from shopgraph.settings import Settings

log = logging.getLogger("shopgraph")
LISTEN_BACKLOG = 1024


def _seed_options(args: argparse.Namespace, settings: Settings) -> SeedOptions:
    return SeedOptions.for_settings(
        settings,
        customers=args.customers,
        products=args.products,
        orders_per_customer=args.orders_per_customer,
        seed=args.seed,
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return value


def _add_seed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--orders-per-customer", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7, help="random seed of the dataset")


async def _holds_demo_data(db: Dynamo, options: SeedOptions) -> bool:
    """Whether a demo seed finished here: the last customer's email is taken."""
    return (
        await db.get(entities.EMAIL_GUARD.key(email=customer_email(options.customers))) is not None
    )


async def _prepare_table(
    client: Any, settings: Settings, args: argparse.Namespace, *, seed_demo: bool
) -> None:
    """Creates the table if it is missing; with seed_demo, loads the demo data once."""
    if await ensure_table(client, settings.table_name):
        print(f"created table {settings.table_name}", flush=True)
    if not seed_demo:
        return
    db = Dynamo(client, settings.table_name)
    options = _seed_options(args, settings)
    if await _holds_demo_data(db, options):
        print(f"{settings.table_name} already holds the demo data; not seeding it again")
        return
    written = await seed(db, options)
    print(f"seeded {written} items into {settings.table_name}", flush=True)


async def _prepare(settings: Settings, args: argparse.Namespace, *, seed_demo: bool) -> None:
    async with open_client(table_admin_settings(settings)) as client:
        await _prepare_table(client, settings, args, seed_demo=seed_demo)


async def _prepare_if_reachable(
    settings: Settings, args: argparse.Namespace, *, seed_demo: bool
) -> bool:
    """Prepares the table now; False where the store cannot be reached yet."""
    try:
        await _prepare(settings, args, seed_demo=seed_demo)
    except (Unavailable, *UNREACHABLE_ERRORS):
        return False
    return True


def _embedded_engine(settings: Settings, args: argparse.Namespace) -> EngineProcess:
    return start_embedded(
        args.engine or settings.embedded_engine,
        _data_dir(settings, args),
        port=getattr(args, "engine_port", None),
    )


def _data_dir(settings: Settings, args: argparse.Namespace) -> Path | None:
    return args.data_dir or settings.data_dir


def _port_taken(host: str, port: int) -> bool:
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server will bind: a port left in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _announce(engine: EngineProcess, data_dir: Path | None) -> None:
    kept = (
        f"Its data is kept in {data_dir} across restarts."
        if data_dir
        else "Its data lives in memory and is gone when the server stops."
    )
    print(
        f"No DynamoDB configured: started the embedded engine, {engine.details}, "
        f"at {engine.endpoint_url}.\n{kept}\n"
        "Set AWS_ENDPOINT_URL_DYNAMODB (or --endpoint-url) to use another engine.",
        flush=True,
    )


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from shopgraph.server import prefork
    from shopgraph.server.app import create_app
    from shopgraph.server.heap import freeze_startup_heap

    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    workers = args.workers or settings.workers
    # Before anything slow: a taken port is the most common first failure.
    # (With --reuse-port the port is shared with sibling processes.)
    if not args.reuse_port and _port_taken(host, port):
        print(
            f"error: port {port} on {host} is already in use; choose another one, "
            f"e.g. PORT={port + 1000 if port < 64000 else 9000} make serve "
            f"(or shopgraph serve --port ...)",
            file=sys.stderr,
        )
        return 2
    if workers > 1 and not settings.redis_url:
        print(
            f"error: serve --workers {workers} needs Redis, so that subscriptions work on "
            "every process: set SHOPGRAPH_REDIS_URL (e.g. redis://127.0.0.1:6379/0), "
            "or run one process",
            file=sys.stderr,
        )
        return 2
    if settings.trusted_documents is not None:
        # A bad manifest stops start-up now, in one line, before an engine
        # starts or a worker forks (create_app loads it again; it is small).
        TrustedDocuments.load(settings.trusted_documents)
    # SIGTERM before the server runs (while seeding) still stops the engine.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    engine: EngineProcess | None = None
    try:
        if settings.endpoint_url is None:
            engine = _embedded_engine(settings, args)
            _announce(engine, _data_dir(settings, args))
            settings = settings.with_(endpoint_url=engine.endpoint_url)
        else:
            settings.warn_if_secret_is_random()
        seed_demo = bool(args.seed_demo == "always" or (args.seed_demo == "embedded" and engine))
        if workers > 1:
            print(f"GraphiQL: open http://{host}:{port}/graphql in a browser", flush=True)
            return prefork.run(
                settings,
                host=host,
                port=port,
                workers=workers,
                child_args=functools.partial(_child_args, args, host, port, seed_demo),
                stream_worker=args.stream_worker,
            )
        prepare_later: Prepare | None = None
        if not asyncio.run(_prepare_if_reachable(settings, args, seed_demo=seed_demo)):
            # A store that is not up yet (started alongside, restarting) is
            # waited for while serving: /readyz says when it answers.
            print(
                f"DynamoDB at {settings.endpoint_url} cannot be reached yet: serving anyway, "
                "with /readyz at 503 and requests answering UNAVAILABLE until it answers; "
                "the table is prepared then",
                flush=True,
            )
            prepare_later = functools.partial(
                _prepare_table, settings=settings, args=args, seed_demo=seed_demo
            )
        if not args.reuse_port:
            print(f"GraphiQL: open http://{host}:{port}/graphql in a browser", flush=True)
        app = create_app(settings, prepare=prepare_later)
        # Only here, in a process that serves until it stops: a frozen heap is
        # never collected again, which suits a server's startup heap alone.
        app.on_startup.append(freeze_startup_heap)
        web.run_app(
            app,
            host=host,
            port=port,
            reuse_port=args.reuse_port,
            print=None,
            # A burst of connections waits in the kernel instead of being refused.
            backlog=LISTEN_BACKLOG,
            # A client that hangs up frees its slot: its request stops (a write
            # it cut short is atomic, and a retry with its idempotencyKey is safe).
            handler_cancellation=True,
        )
    finally:
        if engine is not None:
            engine.stop()
    return 0


def _child_args(
    args: argparse.Namespace, host: str, port: int, seed_demo: bool, slot: int
) -> list[str]:
    """A child of `serve --workers`: the same port, shared; the first one seeds."""
    child = ["--host", host, "--port", str(port), "--reuse-port"]
    if seed_demo and slot == 0:
        child += ["--seed-demo=always", "--customers", str(args.customers)]
        child += ["--products", str(args.products), "--seed", str(args.seed)]
        child += ["--orders-per-customer", str(args.orders_per_customer)]
    return child


def create_table(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> None:
        async with open_client(table_admin_settings(settings)) as client:
            created = await ensure_table(client, settings.table_name)
        print(
            f"created table {settings.table_name}"
            if created
            else f"table {settings.table_name} already exists with the expected shape"
        )

    asyncio.run(run())
    return 0


def seed_command(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_prepare(settings, args, seed_demo=True))
    return 0


def engine_command(settings: Settings, args: argparse.Namespace) -> int:
    """`engine install` fetches DynamoDB Local; `engine run` runs the embedded engine alone."""
    if args.action == "install":
        print(f"DynamoDB Local: {dynamodb_local.install()}")
        return 0
    engine = _embedded_engine(settings, args)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with engine:
        print(f"{engine.details}; stop it with Ctrl-C", file=sys.stderr, flush=True)
        # The endpoint alone on stdout, for scripts: endpoint=$(... | head -n 1).
        print(engine.endpoint_url, flush=True)
        while not stop.is_set() and engine.process.poll() is None:
            stop.wait(0.5)
    return 0


def stream_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Reads the leased shards of the stream: salesStats, and changes to Redis."""
    from shopgraph.stream.worker import run_stream_worker

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_stream_worker(settings, stop, lambda line: print(line, flush=True))
        print("stream worker stopped", flush=True)

    asyncio.run(run())
    return 0


def export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from shopgraph.schema.build import EXPORTED_SDL, export_sdl

    target = args.output or EXPORTED_SDL
    target.write_text(export_sdl())
    print(f"wrote {target}")
    return 0


def trusted_documents(settings: Settings, args: argparse.Namespace) -> int:
    """Writes the trusted documents manifest of the .graphql files under a folder."""
    import json

    from shopgraph.schema.build import build_schema
    from shopgraph.schema.trusted_documents import build_manifest

    files = sorted({*args.folder.rglob("*.graphql"), *args.folder.rglob("*.gql")})
    if not files:
        raise ManifestError(f"{args.folder}: no .graphql or .gql files")
    manifest = build_manifest(files, build_schema()._schema)
    try:
        args.output.write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        raise ManifestError(f"{args.output}: cannot be written ({exc.strerror})") from None
    print(f"wrote {args.output}: {len(manifest['operations'])} operations from {len(files)} files")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="shopgraph", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the GraphQL server")
    serve_parser.add_argument("--host", default=None, help="default: $HOST or 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    serve_parser.add_argument(
        "--seed-demo",
        nargs="?",
        const="always",
        choices=("always", "embedded"),
        default=None,
        help="load the demo dataset (=embedded: only into an embedded engine it started)",
    )
    _add_seed_options(serve_parser)
    serve_parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="serve processes on the port (default: $SHOPGRAPH_WORKERS or 1); more than "
        "one needs Redis ($SHOPGRAPH_REDIS_URL)",
    )
    serve_parser.add_argument(
        "--no-stream-worker",
        dest="stream_worker",
        action="store_false",
        help="with --workers: run no stream worker in the parent (they run elsewhere)",
    )
    # A child of --workers: listens beside its siblings on the same port.
    serve_parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    engine_parser = commands.add_parser(
        "engine", help="install DynamoDB Local, or run the embedded engine on its own"
    )
    engine_parser.add_argument("action", choices=("install", "run"))
    engine_parser.add_argument(
        "--port",
        dest="engine_port",
        type=_positive,
        default=None,
        help="run: listen on this port (default: a free one); DynamoDB Local listens on "
        "every interface",
    )
    for sub in (serve_parser, engine_parser):
        sub.add_argument(
            "--engine",
            choices=EMBEDDED_ENGINES,
            default=None,
            help="embedded engine when no endpoint is set (default: $SHOPGRAPH_EMBEDDED_ENGINE "
            "or auto: DynamoDB Local where java is, else moto)",
        )
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="keep the embedded engine's data on disk here (default: $SHOPGRAPH_DATA_DIR; "
            "unset: in memory)",
        )

    table_parser = commands.add_parser("create-table", help="create the table if it is missing")
    seed_parser = commands.add_parser("seed", help="load the demo dataset")
    _add_seed_options(seed_parser)

    worker_parser = commands.add_parser(
        "stream-worker",
        help="read the table's stream (its leased shards): salesStats, and change events "
        "published to Redis ($SHOPGRAPH_REDIS_URL) for serve processes",
    )
    export_parser = commands.add_parser("export-schema", help="write the schema's SDL")
    export_parser.add_argument("--output", type=Path, default=None)
    trusted_parser = commands.add_parser(
        "trusted-documents",
        help="write a trusted documents manifest (Apollo's format) from a folder of .graphql "
        "and .gql files, each operation checked against the schema",
    )
    trusted_parser.add_argument("folder", type=Path)
    trusted_parser.add_argument("-o", "--output", type=Path, default=Path("trusted-documents.json"))

    for sub in (serve_parser, table_parser, seed_parser, worker_parser):
        sub.add_argument(
            "--endpoint-url",
            default=None,
            help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB)",
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure()
    # uvloop's event loop (libuv, in C) for every command: less CPU per request.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    settings = Settings.from_env()
    if getattr(args, "endpoint_url", None):
        settings = settings.with_(endpoint_url=args.endpoint_url)
    commands = {
        "serve": serve,
        "create-table": create_table,
        "seed": seed_command,
        "export-schema": export_schema,
        "trusted-documents": trusted_documents,
        "stream-worker": stream_worker,
        "engine": engine_command,
    }
    try:
        return commands[args.command](settings, args)
    except (TableShapeError, EngineStartError, ManifestError) as exc:
        # What a user can fix: one line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C before the server ran (while an engine started or data loaded):
        # whatever was started has been stopped on the way out.
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
