"""The DynamoDB a bench talks to: one started through `shopgraph.engine`, or a given endpoint."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import cast

from shopgraph.settings import EmbeddedEngine

ENGINES = ("dynamodb-local", "moto", "endpoint")
# Local engines take any credentials; DynamoDB Local rejects '-' and '_' in them.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


@dataclass(frozen=True)
class Engine:
    name: str
    endpoint: str
    # None for a given endpoint: not ours, so neither measured nor stopped.
    pid: int | None = None


def default_engine() -> str:
    from shopgraph.engine import dynamodb_local

    return "dynamodb-local" if dynamodb_local.availability().ok else "moto"


def add_engine_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """--engine and --endpoint-url; without --engine, `default` or else what can run here."""
    parser.add_argument(
        "--engine", choices=ENGINES, default=None, help="default: " + (default or default_engine())
    )
    parser.set_defaults(default_engine=default)
    parser.add_argument(
        "--endpoint-url", default=None, help="DynamoDB endpoint for --engine endpoint"
    )


def check_engine_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fills in the default engine; an endpoint and a launched engine exclude each other."""
    if args.engine is None:
        args.engine = "endpoint" if args.endpoint_url else args.default_engine or default_engine()
    if args.engine == "endpoint" and not args.endpoint_url:
        parser.error("--engine endpoint needs --endpoint-url")
    if args.engine != "endpoint" and args.endpoint_url:
        parser.error("--endpoint-url goes with --engine endpoint")


@contextmanager
def launched_engine(choice: EmbeddedEngine) -> Iterator[Engine]:
    """An engine started through the same launcher as `shopgraph serve`, stopped on exit."""
    from shopgraph.engine import start_embedded

    with start_embedded(choice) as engine:
        print(f"engine: {engine.details}")
        yield Engine(choice, engine.endpoint_url, engine.pid)


@contextmanager
def endpoint_engine(url: str) -> Iterator[Engine]:
    yield Engine("endpoint", url)


def open_engine(engine: str, endpoint_url: str | None) -> AbstractContextManager[Engine]:
    if engine == "endpoint":
        assert endpoint_url, "check_engine_arguments requires it"
        return endpoint_engine(endpoint_url)
    # Any other choice the parser allowed is an embedded engine's name.
    return launched_engine(cast(EmbeddedEngine, engine))


def use_local_credentials(engine: str) -> None:
    """Dummy credentials for a launched engine, for this process and the servers it starts."""
    if engine != "endpoint":
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
