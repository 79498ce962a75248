"""A second subgraph for the gateway tests, written with strawberry's federation.

`reviews` adds `reviews` to Product and `reviewsWritten` to User, and refers
to each review's author as a User that shopgraph resolves. The gateways send
shopgraph's global ids; this subgraph may have kept the stored ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import strawberry
import strawberry.federation
from aiohttp import web
from aiohttp.test_utils import TestServer
from strawberry.aiohttp.views import GraphQLView

from tests.ids import stored

REVIEWS: dict[str, list[tuple[str, str]]] = {}  # stored product id -> (body, author id)


@strawberry.type
class Review:
    body: str
    author: User
    product: Product


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID

    @strawberry.field
    def reviews_written(self) -> list[Review]:
        return [
            Review(body=body, author=self, product=Product(id=strawberry.ID(product)))
            for product, reviews in REVIEWS.items()
            for body, author in reviews
            if stored(author) == stored(self.id)
        ]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.federation.type(keys=["id"])
class Product:
    id: strawberry.ID

    @strawberry.field
    def reviews(self) -> list[Review]:
        return [
            Review(body=b, author=User(id=strawberry.ID(a)), product=self)
            for b, a in REVIEWS.get(stored(self.id), [])
        ]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Product:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field
    def review_count(self) -> int:
        return sum(len(r) for r in REVIEWS.values())


SCHEMA = strawberry.federation.Schema(query=Query, types=[Product, User])


@asynccontextmanager
async def reviews_server() -> AsyncIterator[str]:
    """The reviews subgraph on a loopback port; yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/graphql", GraphQLView(SCHEMA))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/graphql"))
    finally:
        await server.close()


def _log_file(path: Path | None) -> IO[bytes]:
    return path.open("w+b") if path else tempfile.TemporaryFile()


@asynccontextmanager
async def node_gateway(
    script: Path, subgraphs: dict[str, str], log_to: Path | None = None, **env: str
) -> AsyncIterator[str]:
    """A gateway script of tests/node over the subgraphs; yields its URL.

    The script prints {"url": ...} once it has composed, or exits non-zero.
    Its log goes to log_to, or a temporary file: not a pipe nobody drains.
    """
    with _log_file(log_to) as log:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(script),
            *(f"{name}={url}" for name, url in subgraphs.items()),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={**os.environ, **env},
        )
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 60)  # type: ignore[union-attr]
            if not line:
                await process.wait()
                log.seek(0)
                raise AssertionError(f"{script.name} did not compose: {log.read().decode()}")
            yield json.loads(line)["url"]
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
