"""`shopgraph serve | create-table | seed`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from shopgraph import logs
from shopgraph.data.dynamo import Dynamo, open_client
from shopgraph.data.seed import SeedOptions, seed
from shopgraph.data.table import TableShapeError, ensure_table
from shopgraph.settings import Settings

log = logging.getLogger("shopgraph")


def _seed_options(args: argparse.Namespace, settings: Settings) -> SeedOptions:
    return SeedOptions.for_settings(
        settings,
        customers=args.customers,
        products=args.products,
        orders_per_customer=args.orders_per_customer,
        seed=args.seed,
    )


def _add_seed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--orders-per-customer", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7, help="random seed of the dataset")


async def _prepare(settings: Settings, endpoint_url: str | None, args: argparse.Namespace) -> None:
    async with open_client(settings, endpoint_url) as client:
        if await ensure_table(client, settings.table_name):
            print(f"created table {settings.table_name}")
        if getattr(args, "seed_demo", False) or args.command == "seed":
            written = await seed(Dynamo(client, settings.table_name), _seed_options(args, settings))
            print(f"seeded {written} items into {settings.table_name}")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from shopgraph.server.app import create_app
    from shopgraph.server.embedded import EmbeddedDynamo

    embedded = None
    endpoint = args.endpoint_url or settings.endpoint_url
    if endpoint is None:
        embedded = EmbeddedDynamo()
        endpoint = embedded.start()
        print(
            f"No DynamoDB configured: started an embedded in-memory DynamoDB at {endpoint}.\n"
            "Its data lives in memory and is gone when the server stops.\n"
            "Set AWS_ENDPOINT_URL_DYNAMODB (or --endpoint-url) to use another engine."
        )
        settings = settings.with_(endpoint_url=endpoint)
    try:
        asyncio.run(_prepare(settings, endpoint, args))
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        print(f"GraphiQL: open http://{host}:{port}/graphql in a browser")
        web.run_app(create_app(settings, endpoint), host=host, port=port, print=None)
    except TableShapeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if embedded:
            embedded.stop()
    return 0


def create_table(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> bool:
        async with open_client(settings, args.endpoint_url) as client:
            return await ensure_table(client, settings.table_name)

    try:
        created = asyncio.run(run())
    except TableShapeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"created table {settings.table_name}"
        if created
        else f"table {settings.table_name} already exists with the expected shape"
    )
    return 0


def seed_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        asyncio.run(_prepare(settings, args.endpoint_url, args))
    except TableShapeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def stream_worker(settings: Settings, args: argparse.Namespace) -> int:
    """The stream consumer alone: salesStats, without serving GraphQL."""
    from shopgraph.stream.broker import Broker
    from shopgraph.stream.runtime import stream_runtime

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with open_client(settings) as client:
            await ensure_table(client, settings.table_name)
            async with stream_runtime(settings, client, Broker()):
                print(f"stream worker reading the stream of {settings.table_name}")
                await stop.wait()
        print("stream worker stopped")

    try:
        asyncio.run(run())
    except TableShapeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from shopgraph.schema.build import EXPORTED_SDL, export_sdl

    target = args.output or EXPORTED_SDL
    target.write_text(export_sdl())
    print(f"wrote {target}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="shopgraph", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the GraphQL server")
    serve_parser.add_argument("--host", default=None, help="default: $HOST or 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    serve_parser.add_argument("--seed-demo", action="store_true", help="load the demo dataset")
    _add_seed_options(serve_parser)

    table_parser = commands.add_parser("create-table", help="create the table if it is missing")
    seed_parser = commands.add_parser("seed", help="load the demo dataset")
    _add_seed_options(seed_parser)

    worker_parser = commands.add_parser(
        "stream-worker", help="run only the stream consumer (salesStats)"
    )
    export_parser = commands.add_parser("export-schema", help="write the schema's SDL")
    export_parser.add_argument("--output", type=Path, default=None)

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
    settings = Settings.from_env()
    if getattr(args, "endpoint_url", None):
        settings = settings.with_(endpoint_url=args.endpoint_url)
    commands = {
        "serve": serve,
        "create-table": create_table,
        "seed": seed_command,
        "export-schema": export_schema,
        "stream-worker": stream_worker,
    }
    return commands[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
