"""What a bench measures, started in order on an ExitStack: the engine, a fresh
seeded table on it, and the server's environment for that table.

The ExitStack stops them again in reverse order, on failure and SIGTERM too.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from dataclasses import dataclass

from bench.cli import env_assignment, non_negative_int, positive_float, positive_int
from bench.data import Loaded, drop_table, load_dataset, new_table_name
from bench.engines import (
    Engine,
    add_engine_arguments,
    check_engine_arguments,
    open_engine,
    use_local_credentials,
)
from bench.server import Server, endpoint_env, served
from shopgraph.data.seed import SeedOptions
from shopgraph.settings import Settings


@dataclass(frozen=True)
class Stack:
    engine: Engine
    settings: Settings
    # The server's environment: the bench's table, and --server-env.
    env: dict[str, str]
    loaded: Loaded

    @property
    def table(self) -> str:
        return self.settings.table_name


def add_stack_arguments(
    parser: argparse.ArgumentParser, *, customers: int, products: int, orders_per_customer: int
) -> None:
    """The engine, the dataset's sizes and the server's start-up options."""
    add_engine_arguments(parser)
    group = parser.add_argument_group("dataset and server")
    group.add_argument(
        "--customers", type=positive_int, default=customers, help="(default %(default)s)"
    )
    group.add_argument(
        "--products", type=positive_int, default=products, help="(default %(default)s)"
    )
    group.add_argument(
        "--orders-per-customer",
        type=non_negative_int,
        default=orders_per_customer,
        help="(default %(default)s)",
    )
    group.add_argument(
        "--startup-timeout",
        type=positive_float,
        default=60.0,
        help="s the server may take to be ready (default %(default)g)",
    )
    group.add_argument(
        "--server-env",
        type=env_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server, e.g. SHOPGRAPH_MAX_IN_FLIGHT=32; repeatable",
    )


def check_stack_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_engine_arguments(parser, args)


def seeded(
    stack: ExitStack, args: argparse.Namespace, prefix: str, env: dict[str, str] | None = None
) -> Stack:
    """The engine and a seeded table on it, both undone by `stack`; `env` (then
    --server-env) goes into the server's environment."""
    use_local_credentials(args.engine)
    server_env = endpoint_env(new_table_name(prefix)) | (env or {}) | dict(args.server_env)
    settings = Settings.from_env(server_env)
    engine = stack.enter_context(open_engine(args.engine, args.endpoint_url))
    stack.callback(drop_table, settings, engine.endpoint)
    options = SeedOptions.for_settings(
        settings,
        customers=args.customers,
        products=args.products,
        orders_per_customer=args.orders_per_customer,
    )
    loaded = load_dataset(settings, engine.endpoint, options)
    return Stack(engine, settings, server_env, loaded)


def serve(
    stack: ExitStack,
    args: argparse.Namespace,
    seeded_stack: Stack,
    log_name: str,
    endpoint: str | None = None,
) -> Server:
    """The server on the seeded table, through `endpoint` (default: the engine), stopped
    by `stack`."""
    env = dict(seeded_stack.env)
    if endpoint is not None:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    return stack.enter_context(
        served(endpoint or seeded_stack.engine.endpoint, env, args.startup_timeout, log_name)
    )
